/* emgf v1 frames (hardware/WIRE_FORMAT.md) written into the UART transmit ring. */
#ifndef EMGF_FRAME_H
#define EMGF_FRAME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMGF_TYPE_DATA 0x10
#define EMGF_TYPE_INFO 0x11
#define EMGF_TYPE_EVENT 0x12
#define EMGF_TYPE_STATUS 0x13
#define EMGF_MAX_PAYLOAD 250u
#define EMGF_FRAME_OVERHEAD 6u /* sync, ver/type, length, CRC */
#define EMGF_DATA_HEADER 6u    /* u32 index, u8 channels, u8 samples */

enum {
    EMGF_STATUS_PERIODIC = 0,
    EMGF_STATUS_STARTED = 1,
    EMGF_STATUS_STOPPED = 2,
    EMGF_STATUS_ACCEPTED = 3,
    EMGF_STATUS_REFUSED = 4,
    EMGF_STATUS_UNKNOWN = 5,
};

/* Queue a data frame of n_samples samples read from the sampler ring (sampler_peek_*).
 * Without wait, returns 0 without queuing anything when the TX ring has no room for it;
 * with wait (used after sampling stopped), waits for room. */
uint8_t frame_send_data(uint32_t first_index, uint8_t channels, uint8_t n_samples,
                        uint8_t wait);
/* Queue a frame with the given payload, waiting for room in the TX ring (control frames
 * are small and rare; the sampler keeps running meanwhile). */
void frame_send(uint8_t ver_type, const uint8_t *payload, uint8_t length);

#ifdef __cplusplus
}
#endif

#endif

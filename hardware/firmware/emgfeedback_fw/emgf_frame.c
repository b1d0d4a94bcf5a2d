/* emgf v1 frame writer. See emgf_frame.h. */
#include "emgf_frame.h"

#include <util/crc16.h>

#include "emgf_sampler.h"
#include "emgf_uart.h"

static uint16_t crc;

static void put_crc(uint8_t byte)
{
    crc = _crc_xmodem_update(crc, byte);
    uart_tx_put(byte);
}

static void put_header(uint8_t ver_type, uint8_t length)
{
    uart_tx_begin();
    uart_tx_put(0xEB);
    uart_tx_put(0x90);
    crc = 0xFFFF; /* CRC-16/CCITT-FALSE: xmodem polynomial from 0xFFFF */
    put_crc(ver_type);
    put_crc(length);
}

static void put_trailer(void)
{
    uart_tx_put((uint8_t)crc);
    uart_tx_put((uint8_t)(crc >> 8));
    uart_tx_commit();
}

uint8_t frame_send_data(uint32_t first_index, uint8_t channels, uint8_t n_samples,
                        uint8_t wait)
{
    uint16_t values = (uint16_t)channels * n_samples;
    uint8_t length = (uint8_t)(EMGF_DATA_HEADER + 2u * values);
    while (uart_tx_free() < (uint16_t)length + EMGF_FRAME_OVERHEAD) {
        if (!wait) return 0;
    }
    put_header(EMGF_TYPE_DATA, length);
    put_crc((uint8_t)first_index);
    put_crc((uint8_t)(first_index >> 8));
    put_crc((uint8_t)(first_index >> 16));
    put_crc((uint8_t)(first_index >> 24));
    put_crc(channels);
    put_crc(n_samples);
    sampler_peek_begin();
    while (values--) {
        uint16_t v = sampler_peek_value();
        put_crc((uint8_t)v);
        put_crc((uint8_t)(v >> 8));
    }
    put_trailer();
    return 1;
}

void frame_send(uint8_t ver_type, const uint8_t *payload, uint8_t length)
{
    while (uart_tx_free() < (uint16_t)length + EMGF_FRAME_OVERHEAD) {
        /* the UDRE interrupt drains the ring */
    }
    put_header(ver_type, length);
    for (uint8_t i = 0; i < length; i++) put_crc(payload[i]);
    put_trailer();
}

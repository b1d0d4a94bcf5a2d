/* Timer-driven sampling of A0..A(n-1) into a ring of complete samples.
 *
 * Timer1 (CTC) ticks at the sample rate; its interrupt only starts the first conversion.
 * Each ADC-complete interrupt stores one value and starts the next channel; the last
 * channel publishes the sample. Nothing waits inside an interrupt. A tick that finds the
 * previous sample still converting (or the ring full) is an overrun: that sample is not
 * taken, but its index is used up, so the host sees the loss as a gap. */
#ifndef EMGF_SAMPLER_H
#define EMGF_SAMPLER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMGF_RING_VALUES 384u /* u16 values; holds 384 / channels samples */

/* Samples the ring holds at this channel count. */
uint16_t sampler_capacity(uint8_t channels);
void sampler_init(void);
/* Configure while stopped. timer_prescaler is 1 or 8; adc_prescaler 32, 64 or 128. */
void sampler_configure(uint8_t channels, uint16_t timer_top, uint8_t timer_prescaler,
                       uint8_t adc_prescaler);
/* Start ticking; the first sample taken gets index first_index. */
void sampler_start(uint32_t first_index);
/* Stop ticking and wait for a sample in conversion to finish. */
void sampler_stop(void);
/* Samples ready to send: returns how many consecutive samples start at *first_index.
 * *bounded is set when a gap follows them (send them even if fewer than a frame). */
uint16_t sampler_ready(uint32_t *first_index, uint8_t *bounded);
/* Read values of the ready samples in order, sample-major. Call sampler_peek_begin()
 * first; then sampler_consume(n) releases n samples (read or not). */
void sampler_peek_begin(void);
uint16_t sampler_peek_value(void);
void sampler_consume(uint16_t n_samples);
/* Device counters. */
uint32_t sampler_overruns(void);
uint32_t sampler_next_index(void);
/* True when complete samples or a gap are waiting for the main loop (call with
 * interrupts disabled, e.g. before sleeping). */
uint8_t sampler_pending_unsafe(uint16_t at_least);

#ifdef __cplusplus
}
#endif

#endif

/* Timer-driven, interrupt-chained ADC sampling. See emgf_sampler.h. */
#include "emgf_sampler.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>

#define ADMUX_AVCC _BV(REFS0) /* reference = AVcc (5 V on Uno and Nano) */

static uint16_t ring[EMGF_RING_VALUES];
static uint8_t n_channels = 1;
static uint16_t ring_end = EMGF_RING_VALUES; /* values in use: capacity * channels */
static uint16_t ring_slots = EMGF_RING_VALUES;
static uint8_t timer_clock_bits = _BV(CS10); /* TCCR1B clock select: /1 or /8 */

/* Written by the interrupts. */
static volatile uint16_t write_pos;    /* first value of the sample being converted */
static volatile uint16_t stored_total; /* samples published (wraps) */
static volatile uint8_t chain_busy;    /* a sample is being converted */
static volatile uint8_t chain_channel;
static volatile uint32_t tick_index;  /* index the next tick takes */
static volatile uint32_t chain_index; /* index of the sample being converted */
static volatile uint32_t store_next;  /* index the next published sample should have */
static volatile uint32_t overruns;
static volatile uint8_t gap_pending; /* a published sample did not follow the previous one */
static volatile uint8_t gap_multi;   /* a second gap came before the first was handled */
static volatile uint16_t gap_before; /* stored_total when the gap was found */
static volatile uint32_t gap_resume; /* index of the first sample after the gap */

/* Owned by the main loop (read by the tick interrupt to see free room). */
static volatile uint16_t read_total;
static uint16_t read_pos;
static uint16_t peek_pos;
static uint32_t read_index; /* index of the oldest unsent sample */

uint16_t sampler_capacity(uint8_t channels) { return EMGF_RING_VALUES / channels; }

void sampler_init(void)
{
    /* The Arduino core's init() configured timer1 for PWM and timer0 for millis(); this
     * firmware owns timer1 and silences timer0 so its interrupt adds no jitter. */
    TIMSK0 = 0;
    TCCR1B = 0;
    TCCR1A = 0;
    TIMSK1 = 0;
    ADCSRB = 0;
    ADMUX = ADMUX_AVCC;
    ADCSRA = _BV(ADEN) | _BV(ADIF) | 7; /* enabled, slowest clock until configured */
    /* The first conversion after enabling takes 25 instead of 13 ADC clocks (it sets up
     * the analog circuitry); do it now, at boot, so no sample period pays for it. */
    ADCSRA |= _BV(ADSC);
    while (ADCSRA & _BV(ADSC)) {
    }
    ADCSRA |= _BV(ADIF);
}

void sampler_configure(uint8_t channels, uint16_t timer_top, uint8_t timer_prescaler,
                       uint8_t adc_prescaler)
{
    uint8_t adps = adc_prescaler == 128 ? 7 : adc_prescaler == 64 ? 6 : 5;
    n_channels = channels;
    ring_slots = sampler_capacity(channels);
    ring_end = ring_slots * channels;
    TCCR1A = 0;
    TCCR1B = _BV(WGM12); /* CTC on OCR1A, clock stopped until sampler_start */
    OCR1A = timer_top;
    timer_clock_bits = timer_prescaler == 8 ? _BV(CS11) : _BV(CS10);
    /* Digital input buffers off on the analog pins in use (A6/A7 have none). */
    DIDR0 = (uint8_t)(((1u << (channels > 6 ? 6 : channels)) - 1u) & 0x3Fu);
    ADCSRA = _BV(ADEN) | _BV(ADIF) | _BV(ADIE) | adps;
    chain_busy = 0;
}

void sampler_start(uint32_t first_index)
{
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        write_pos = 0;
        read_pos = 0;
        stored_total = 0;
        read_total = 0;
        chain_busy = 0;
        tick_index = first_index;
        store_next = first_index;
        read_index = first_index;
        gap_pending = 0;
        gap_multi = 0;
        TCNT1 = 0;
        TIFR1 = _BV(OCF1A);
        TIMSK1 = _BV(OCIE1A);
        TCCR1B = _BV(WGM12) | timer_clock_bits; /* CTC on OCR1A; the clock starts now */
    }
}

void sampler_stop(void)
{
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        TCCR1B = 0;
        TIMSK1 = 0;
        TIFR1 = _BV(OCF1A);
    }
    while (chain_busy) {
        /* at most one sample's conversions (< 1 sample period) */
    }
}

ISR(TIMER1_COMPA_vect)
{
    uint32_t index = tick_index;
    tick_index = index + 1u;
    if (chain_busy || (uint16_t)(stored_total - read_total) >= ring_slots) {
        overruns++;
        return;
    }
    chain_index = index;
    chain_channel = 0;
    chain_busy = 1;
    ADMUX = ADMUX_AVCC; /* channel 0 */
    ADCSRA |= _BV(ADSC);
}

ISR(ADC_vect)
{
    uint8_t ch = chain_channel;
    ring[write_pos + ch] = ADC;
    ch++;
    if (ch < n_channels) {
        chain_channel = ch;
        ADMUX = ADMUX_AVCC | ch;
        ADCSRA |= _BV(ADSC);
        return;
    }
    uint32_t index = chain_index;
    if (index != store_next) {
        if (gap_pending) {
            gap_multi = 1;
        } else {
            gap_pending = 1;
            gap_before = stored_total;
            gap_resume = index;
        }
    }
    store_next = index + 1u;
    uint16_t pos = write_pos + n_channels;
    write_pos = pos >= ring_end ? 0 : pos;
    stored_total++;
    chain_busy = 0;
}

uint16_t sampler_ready(uint32_t *first_index, uint8_t *bounded)
{
    uint16_t stored, before;
    uint8_t pending, multi;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        stored = stored_total;
        pending = gap_pending;
        multi = gap_multi;
        before = gap_before;
        if (multi) {
            /* Two gaps before the first was handled: where the second one lies is
             * unknown, so drop what is buffered and continue after the newest sample. The
             * dropped samples count as overruns; the host sees them as an index gap. */
            overruns += (uint16_t)(stored - read_total);
            read_pos = write_pos;
            read_total = stored;
            read_index = store_next;
            gap_pending = 0;
            gap_multi = 0;
            pending = 0;
        } else if (pending && before == read_total) {
            /* Everything before the gap is sent: jump the index over it. */
            read_index = gap_resume;
            gap_pending = 0;
            pending = 0;
        }
    }
    *first_index = read_index;
    if (pending) {
        *bounded = 1;
        return (uint16_t)(before - read_total);
    }
    *bounded = 0;
    return (uint16_t)(stored - read_total);
}

void sampler_peek_begin(void) { peek_pos = read_pos; }

uint16_t sampler_peek_value(void)
{
    uint16_t value = ring[peek_pos];
    if (++peek_pos >= ring_end) peek_pos = 0;
    return value;
}

void sampler_consume(uint16_t n_samples)
{
    uint16_t pos = read_pos + n_samples * n_channels;
    if (pos >= ring_end) pos -= ring_end;
    read_pos = pos;
    read_index += n_samples;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { read_total += n_samples; }
}

uint32_t sampler_overruns(void)
{
    uint32_t n;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { n = overruns; }
    return n;
}

uint32_t sampler_next_index(void)
{
    uint32_t n;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { n = tick_index; }
    return n;
}

uint8_t sampler_pending_unsafe(uint16_t at_least)
{
    return gap_pending || gap_multi || (uint16_t)(stored_total - read_total) >= at_least;
}

/* emgfeedback firmware: host commands, configuration budgets and the streaming loop.
 *
 * Speaks only emgf v1 frames (hardware/WIRE_FORMAT.md). Host commands are ASCII lines:
 * ?  b  s  f<Hz>  c<n>  k<n>. A configuration the ADC or the UART cannot carry is refused
 * with a status frame (code 4) that says why.
 */
#include "emgf_fw.h"

#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdlib.h>

#include "emgf_config.h"
#include "emgf_frame.h"
#include "emgf_sampler.h"
#include "emgf_uart.h"

/* CPU cycles of the interrupt handlers and the frame writer (counted from the
 * disassembly, rounded up): the ADC budget adds them to the ADC's 13 clocks per
 * conversion; the CPU budget adds up all of them per second. */
#define ADC_ISR_CYCLES 150UL   /* store a value, start the next channel or publish */
#define TICK_ISR_CYCLES 130UL  /* timer1 tick: start the first conversion */
#define FRAME_CYCLES 500UL     /* per data frame: ring bookkeeping and header */
#define BYTE_CYCLES 110UL      /* per byte sent: CRC and ring write plus the UDRE interrupt */
#define CPU_LOAD_PERCENT 75UL
#define STATUS_BYTES_PER_S 32UL
#define FRAMES_PER_PUMP 4u     /* data frames sent before looking at commands again */
#define LINE_MAX 15u

typedef struct {
    uint8_t channels;
    uint8_t k;
    uint16_t timer_top;
    uint8_t timer_prescaler;
    uint8_t adc_prescaler;
    uint32_t fs_hz;
} config_t;

static config_t config;
static uint8_t running;
static uint32_t resume_index; /* index the next `b` starts at */
static uint32_t tx_dropped;
static uint32_t since_status;

static uint8_t scratch[EMGF_MAX_PAYLOAD];
static uint8_t scratch_len;
static char line[LINE_MAX + 1];
static uint8_t line_len;
static uint8_t line_overflow;

/* ---- payload building ------------------------------------------------------------- */

static void put_byte(uint8_t byte)
{
    if (scratch_len < EMGF_MAX_PAYLOAD) scratch[scratch_len++] = byte;
}

static void put_u32(uint32_t v)
{
    for (uint8_t i = 0; i < 4; i++) {
        put_byte((uint8_t)v);
        v >>= 8;
    }
}

static void put_str(const char *s)
{
    while (*s) put_byte((uint8_t)*s++);
}

static void put_str_P(const char *s)
{
    char c;
    while ((c = (char)pgm_read_byte(s++))) put_byte((uint8_t)c);
}

static void put_num(uint32_t v)
{
    char digits[11];
    ultoa(v, digits, 10);
    put_str(digits);
}

/* ---- status and info frames ---------------------------------------------------------- */

static uint32_t next_index(void) { return running ? sampler_next_index() : resume_index; }

static void status_begin(uint8_t code)
{
    scratch_len = 0;
    put_byte(code);
    put_u32(tx_dropped);
    put_u32(sampler_overruns());
    put_u32(next_index());
}

static void status_send(void) { frame_send(EMGF_TYPE_STATUS, scratch, scratch_len); }

static void send_status(uint8_t code)
{
    status_begin(code);
    status_send();
}

static void send_info(void)
{
    static const char *const outputs[8] = EMGF_INPUT_OUTPUTS;
    scratch_len = 0;
    put_str_P(PSTR("{\"fw\":\"" EMGF_FW_VERSION "\",\"board\":\"" EMGF_BOARD_NAME
                   "\",\"mcu\":\"atmega328p\",\"ch\":"));
    put_num(config.channels);
    put_str_P(PSTR(",\"fs\":"));
    put_num(config.fs_hz);
    put_str_P(PSTR(",\"adc_bits\":10,\"vref_mv\":5000,\"k\":"));
    put_num(config.k);
    put_str_P(PSTR(",\"baud\":"));
    put_num(EMGF_BAUD);
    put_str_P(PSTR(",\"in\":["));
    for (uint8_t ch = 0; ch < config.channels; ch++) {
        if (ch) put_byte(',');
        put_str_P(PSTR("\"A"));
        put_byte((uint8_t)('0' + ch));
        put_byte(':');
        put_str(outputs[ch]);
        put_byte('"');
    }
    put_str_P(PSTR("],\"run\":"));
    put_byte(running ? '1' : '0');
    put_str_P(PSTR(",\"max_ch\":"));
    put_num(EMGF_MAX_CHANNELS);
    put_str_P(PSTR(",\"adc_div\":"));
    put_num(config.adc_prescaler);
    put_byte('}');
    frame_send(EMGF_TYPE_INFO, scratch, scratch_len);
}

/* ---- configuration budgets ----------------------------------------------------------- */

static uint16_t max_k(uint8_t channels)
{
    uint16_t by_payload = (EMGF_MAX_PAYLOAD - EMGF_DATA_HEADER) / 2u / channels;
    uint16_t by_ring = sampler_capacity(channels) / 2u; /* room for two frames */
    return by_payload < by_ring ? by_payload : by_ring;
}

/* Fill the derived fields of *c. On failure, leave a status-4 payload in scratch that
 * says why and return 0. */
static uint8_t check_config(config_t *c)
{
    uint8_t budget_ok = 1;
    if (c->channels < 1 || c->channels > EMGF_MAX_CHANNELS) {
        status_begin(EMGF_STATUS_REFUSED);
        put_str_P(PSTR("channels: 1.."));
        put_num(EMGF_MAX_CHANNELS);
#if EMGF_MAX_CHANNELS < 8
        put_str_P(PSTR(" on " EMGF_BOARD_NAME " (A6, A7: nano build)"));
#else
        put_str_P(PSTR(" on " EMGF_BOARD_NAME));
#endif
        return 0;
    }
    if (c->fs_hz < EMGF_MIN_FS_HZ || c->fs_hz > EMGF_MAX_FS_HZ) {
        status_begin(EMGF_STATUS_REFUSED);
        put_str_P(PSTR("fs: "));
        put_num(EMGF_MIN_FS_HZ);
        put_str_P(PSTR(".."));
        put_num(EMGF_MAX_FS_HZ);
        put_str_P(PSTR(" Hz"));
        return 0;
    }
    uint32_t period = F_CPU / c->fs_hz; /* CPU cycles per sample */
    if (F_CPU % c->fs_hz == 0 && period <= 65536UL) {
        c->timer_prescaler = 1;
        c->timer_top = (uint16_t)(period - 1u);
    } else if ((F_CPU / 8u) % c->fs_hz == 0 && F_CPU / 8u / c->fs_hz <= 65536UL) {
        c->timer_prescaler = 8;
        c->timer_top = (uint16_t)(F_CPU / 8u / c->fs_hz - 1u);
    } else {
        status_begin(EMGF_STATUS_REFUSED);
        put_str_P(PSTR("fs: "));
        put_num(c->fs_hz);
        put_str_P(PSTR(" Hz is not a whole number of 16 MHz clocks; try 1000, 2000, 2500, 4000"));
        return 0;
    }
    uint16_t k_limit = max_k(c->channels);
    if (c->k < 1 || c->k > k_limit) {
        status_begin(EMGF_STATUS_REFUSED);
        put_str_P(PSTR("k: 1.."));
        put_num(k_limit);
        put_str_P(PSTR(" at "));
        put_num(c->channels);
        put_str_P(PSTR(" channels"));
        return 0;
    }
    /* ADC: the slowest clock (best accuracy) whose conversions of all channels fit in
     * EMGF_ADC_LOAD_PERCENT of the sample period; at most 500 kHz (divider 32). */
    c->adc_prescaler = 0;
    uint32_t chain = 0;
    for (uint8_t div = 128; div >= 32; div >>= 1) {
        chain = c->channels * (13UL * div + ADC_ISR_CYCLES) + TICK_ISR_CYCLES;
        if (chain * 100UL <= EMGF_ADC_LOAD_PERCENT * period) {
            c->adc_prescaler = div;
            break;
        }
    }
#if EMGF_UNCHECKED_BUDGETS
    if (!c->adc_prescaler) {
        budget_ok = 0;
        c->adc_prescaler = 32;
    }
#endif
    if (!c->adc_prescaler) {
        status_begin(EMGF_STATUS_REFUSED);
        put_str_P(PSTR("ADC: "));
        put_num(c->channels);
        put_str_P(PSTR(" ch need "));
        put_num(chain / (F_CPU / 1000000UL));
        put_str_P(PSTR(" us of each "));
        put_num(period / (F_CPU / 1000000UL));
        put_str_P(PSTR(" us sample period, over 80%; lower f or c"));
        return 0;
    }
    /* UART: frames of k samples cost 12 + 2*k*channels bytes of 10 bits on the line. */
    uint32_t frame = 12UL + 2UL * c->k * c->channels;
    uint32_t need = (c->fs_hz * frame + c->k - 1u) / c->k + STATUS_BYTES_PER_S;
    uint32_t line_bytes = EMGF_BAUD / 10UL;
    /* CPU: the interrupts and the frame writer must leave the main loop time to spare. */
    uint32_t cpu = c->fs_hz * (TICK_ISR_CYCLES + c->channels * ADC_ISR_CYCLES) +
                   (c->fs_hz + c->k - 1u) / c->k * FRAME_CYCLES + need * BYTE_CYCLES;
    uint8_t uart_ok = need * 100UL <= EMGF_UART_LOAD_PERCENT * line_bytes;
    uint8_t cpu_ok = cpu / 100UL <= CPU_LOAD_PERCENT * (F_CPU / 10000UL);
    if (!uart_ok || !cpu_ok) budget_ok = 0;
    if (!budget_ok && EMGF_UNCHECKED_BUDGETS) return 1;
    if (!cpu_ok && uart_ok) {
        status_begin(EMGF_STATUS_REFUSED);
        put_str_P(PSTR("CPU: needs "));
        put_num(cpu / (F_CPU / 100UL));
        put_str_P(PSTR("% of 16 MHz, over 75%; lower f or raise k"));
        return 0;
    }
    if (!budget_ok) {
        status_begin(EMGF_STATUS_REFUSED);
        put_str_P(PSTR("UART: needs "));
        put_num(need);
        put_str_P(PSTR(" B/s, over 80% of "));
        put_num(line_bytes);
        put_str_P(PSTR(" B/s at "));
        put_num(EMGF_BAUD);
        put_str_P(PSTR(" baud; lower f or c, or raise k"));
        return 0;
    }
    return 1;
}

/* ---- streaming ------------------------------------------------------------------------ */

/* Send complete frames of samples (a few, so commands are never starved; all of them
 * with flush, and then a last short frame). */
static void pump(uint8_t flush)
{
    for (uint8_t sent = 0; flush || sent < FRAMES_PER_PUMP; sent++) {
        uint32_t first;
        uint8_t bounded;
        uint16_t n = sampler_ready(&first, &bounded);
        if (n == 0) return;
        if (n > config.k) {
            n = config.k;
        } else if (n < config.k && !bounded && !flush) {
            return;
        }
        if (!frame_send_data(first, config.channels, (uint8_t)n, flush)) tx_dropped++;
        sampler_consume(n); /* sent or dropped, the index moves on */
        since_status += n;
        if (since_status >= config.fs_hz) {
            since_status = 0;
            send_status(EMGF_STATUS_PERIODIC);
        }
    }
}

static void start(void)
{
    if (!running) {
        sampler_configure(config.channels, config.timer_top, config.timer_prescaler,
                          config.adc_prescaler);
        since_status = 0;
        running = 1;
        sampler_start(resume_index);
    }
    send_status(EMGF_STATUS_STARTED);
}

static void stop(void)
{
    if (running) {
        sampler_stop();
        pump(1);
        resume_index = sampler_next_index();
        running = 0;
    }
    send_status(EMGF_STATUS_STOPPED);
}

/* ---- commands ------------------------------------------------------------------------- */

static void unknown(const char *text)
{
    status_begin(EMGF_STATUS_UNKNOWN);
    put_str_P(PSTR("unknown command '"));
    put_str(text);
    put_str_P(PSTR("'; use ? b s f<Hz> c<n> k<n>"));
    status_send();
}

static void configure(char what, const char *arg)
{
    while (*arg == ' ') arg++;
    uint32_t value = 0;
    uint8_t digits = 0;
    for (; *arg >= '0' && *arg <= '9'; arg++, digits++) value = value * 10u + (uint8_t)(*arg - '0');
    if (running) {
        status_begin(EMGF_STATUS_REFUSED);
        put_str_P(PSTR("running"));
        status_send();
        return;
    }
    if (digits == 0 || digits > 6 || *arg) {
        status_begin(EMGF_STATUS_REFUSED);
        put_byte((uint8_t)what);
        put_str_P(PSTR(": expected a whole number, e.g. f2000 c4 k8"));
        status_send();
        return;
    }
    config_t candidate = config;
    if (what == 'f') candidate.fs_hz = value;
    if (what == 'c') candidate.channels = value > 255u ? 0 : (uint8_t)value;
    if (what == 'k') candidate.k = value > 255u ? 0 : (uint8_t)value;
    if (!check_config(&candidate)) {
        status_send();
        return;
    }
    config = candidate;
    if (what != 'k') resume_index = 0; /* a new rate or channel count is a new stream */
    send_status(EMGF_STATUS_ACCEPTED);
}

static void run_line(void)
{
    line[line_len] = 0;
    const char *s = line;
    while (*s == ' ') s++;
    if (!*s) return;
    if (s[1] == 0 && (*s == '?' || *s == 'b' || *s == 's')) {
        if (*s == '?') send_info();
        if (*s == 'b') start();
        if (*s == 's') stop();
    } else if (*s == 'f' || *s == 'c' || *s == 'k') {
        configure(*s, s + 1);
    } else {
        unknown(s);
    }
}

static void poll_commands(void)
{
    int16_t byte;
    if (uart_rx_overflowed()) {
        /* Bytes were lost: the line in progress is garbage. Say so; never guess. */
        line_overflow = 1;
        status_begin(EMGF_STATUS_UNKNOWN);
        put_str_P(PSTR("input overflow: commands lost; send one and wait for its reply"));
        status_send();
    }
    while ((byte = uart_rx_get()) >= 0) {
        if (byte == '\r') continue;
        if (byte == '\n') {
            if (line_overflow) {
                status_begin(EMGF_STATUS_UNKNOWN);
                put_str_P(PSTR("line too long or garbled (15 characters at most)"));
                status_send();
            } else {
                run_line();
            }
            line_len = 0;
            line_overflow = 0;
        } else if (line_len < LINE_MAX && byte >= ' ' && byte < 0x7F) {
            line[line_len++] = (char)byte;
        } else if (byte >= ' ') {
            line_overflow = 1;
        }
    }
}

void emgf_run(void)
{
    cli();
    uart_init();
    sampler_init();
    config.channels = EMGF_DEFAULT_CHANNELS;
    config.fs_hz = EMGF_DEFAULT_FS_HZ;
    config.k = EMGF_DEFAULT_K;
    check_config(&config); /* the defaults fit; this fills the derived fields */
    set_sleep_mode(SLEEP_MODE_IDLE);
    sei();
    send_info();
    for (;;) {
        poll_commands();
        if (running) pump(0);
        /* Sleep until the next interrupt unless work is already waiting; `sei; sleep`
         * is atomic on AVR, so no wake-up is lost between the check and the sleep. */
        cli();
        if (!uart_rx_waiting() && !(running && sampler_pending_unsafe(config.k))) {
            sleep_enable();
            sei();
            sleep_cpu();
            sleep_disable();
        }
        sei();
    }
}

#ifndef ARDUINO
int main(void)
{
    emgf_run();
    return 0;
}
#endif

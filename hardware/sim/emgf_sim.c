/* emgf_sim: run the emgfeedback firmware ELF in a simulated ATmega328P (libsimavr).
 *
 * Feeds each ADC input a voltage in mV taken from a table of rows (one row per input
 * period), and connects the UART either to stdout (pipe mode, as fast as it simulates)
 * or to a pseudo-terminal paced to real time (pty mode, for pyserial). See README.md in
 * hardware/firmware/ for the options.
 *
 * ADC model: simavr converts a millivolt input as floor(mV * 1023 / Vref). The harness
 * instead applies the ATmega328P's ideal transfer function, code = round(V * 1024 / Vref)
 * clipped to 0..1023 (datasheet: first transition at 0.5 LSB), and hands simavr the whole
 * millivolt value that its formula turns into exactly that code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_adc.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

#define MAX_SENDS 32
#define VREF_MV 5000u
#define IO_PERIOD_S 0.0005 /* how often (simulated) the harness services I/O */

typedef struct {
    double at_s;
    char *bytes;
    size_t len;
} send_t;

typedef struct {
    uint8_t *data;
    size_t len, cap;
} bytes_t;

static struct {
    const char *elf;
    const char *mcu;
    uint32_t freq;
    const char *adc_path;
    int columns;
    double rate_hz;
    int loop;
    double seconds;
    int pty;
    int stdin_rx; /* pipe mode: bytes on stdin go to the UART */
    int verbose;
    send_t sends[MAX_SENDS];
    int n_sends;
    double *rows; /* n_rows x 8, mV */
    size_t n_rows;
} opt = {.mcu = "atmega328p", .freq = 16000000u, .columns = 8, .rate_hz = 2000.0, .seconds = -1};

static avr_t *avr;
static avr_irq_t *uart_irq;
static avr_irq_t *adc_irq;
static int rx_xoff = 1; /* until the firmware enables its receiver */
static bytes_t tx_out;  /* UART bytes not yet written out */
static bytes_t rx_in;   /* host bytes not yet given to the UART */
static size_t rx_done;
static FILE *out_file;
static uint64_t conversions;
static uint64_t tx_total, tx_lost;
static volatile sig_atomic_t stop_requested;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "emgf_sim: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

static void bytes_add(bytes_t *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 4096;
        b->data = realloc(b->data, b->cap);
        if (!b->data) die("%s", "out of memory");
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void bytes_drop_front(bytes_t *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ---- inputs --------------------------------------------------------------------------- */

static void load_rows_f32(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) die("cannot open ADC input %s", path);
    bytes_t raw = {0};
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) bytes_add(&raw, buf, n);
    if (f != stdin) fclose(f);
    size_t row_bytes = (size_t)opt.columns * 4u;
    if (raw.len == 0 || raw.len % row_bytes)
        die("ADC input %s: length is not a whole number of rows of --columns float32", path);
    opt.n_rows = raw.len / row_bytes;
    opt.rows = calloc(opt.n_rows * 8u, sizeof(double));
    for (size_t r = 0; r < opt.n_rows; r++) {
        for (int c = 0; c < opt.columns; c++) {
            float v;
            memcpy(&v, raw.data + r * row_bytes + (size_t)c * 4u, 4); /* little-endian host */
            opt.rows[r * 8u + (size_t)c] = v;
        }
    }
    free(raw.data);
}

static void set_const_rows(const char *list)
{
    opt.n_rows = 1;
    opt.rows = calloc(8, sizeof(double));
    char *copy = strdup(list), *save = NULL;
    int c = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && c < 8; tok = strtok_r(NULL, ",", &save))
        opt.rows[c++] = atof(tok);
    free(copy);
}

static double input_mv(int channel)
{
    double t = (double)avr->cycle / (double)opt.freq;
    size_t row = (size_t)floor(t * opt.rate_hz);
    if (row >= opt.n_rows) row = opt.loop ? row % opt.n_rows : opt.n_rows - 1u;
    return opt.rows[row * 8u + (size_t)channel];
}

/* The firmware started a conversion: present the input of the selected channel. */
static void adc_trigger(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    union {
        avr_adc_mux_t mux;
        uint32_t v;
    } e = {.v = value};
    if (e.mux.kind != ADC_MUX_SINGLE || e.mux.src > 7) return;
    int channel = (int)e.mux.src;
    double code = floor(input_mv(channel) * 1024.0 / VREF_MV + 0.5);
    if (code < 0) code = 0;
    if (code > 1023) code = 1023;
    uint32_t mv = (uint32_t)ceil(code * VREF_MV / 1023.0);
    avr_raise_irq(adc_irq + ADC_IRQ_ADC0 + channel, mv);
    conversions++;
}

/* ---- UART ----------------------------------------------------------------------------- */

static void uart_out(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    uint8_t b = (uint8_t)value;
    tx_total++;
    if (out_file) {
        fputc(b, out_file);
    } else if (tx_out.len < (1u << 20)) {
        bytes_add(&tx_out, &b, 1);
    } else {
        tx_lost++; /* nobody reads the pty: drop, like a USB bridge would */
    }
}

static void uart_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    rx_xoff = 0;
}

static void uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    rx_xoff = value != 0;
}

static void feed_rx(void)
{
    while (!rx_xoff && rx_done < rx_in.len) avr_raise_irq(uart_irq + UART_IRQ_INPUT, rx_in.data[rx_done++]);
    if (rx_done == rx_in.len) rx_in.len = rx_done = 0;
}

/* ---- options -------------------------------------------------------------------------- */

static size_t unescape(const char *s, char *out)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s != '\\' || !s[1]) {
            out[n++] = *s;
            continue;
        }
        s++;
        if (*s == 'n') out[n++] = '\n';
        else if (*s == 'r') out[n++] = '\r';
        else if (*s == 'x' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            out[n++] = (char)strtol(hex, NULL, 16);
            s += 2;
        } else out[n++] = *s;
    }
    return n;
}

static void usage(void)
{
    fputs("usage: emgf_sim [--adc FILE|- --columns N --rate HZ [--loop] | --const MV,MV,..]\n"
          "                [--seconds S] [--send T:TEXT]... [--stdin | --pty] [--mcu NAME]\n"
          "                [--freq HZ] [--verbose] FIRMWARE.elf\n"
          "  --adc FILE    float32 little-endian mV, rows of --columns values (A0..), one row\n"
          "                per 1/--rate seconds of simulated time ('-' reads stdin)\n"
          "  --const LIST  constant mV per input instead of --adc (default 2500 on all)\n"
          "  --loop        restart the --adc rows at their end (default: hold the last row)\n"
          "  --seconds S   stop after S simulated seconds (pipe mode default 2; pty: forever)\n"
          "  --send T:TEXT at simulated second T write TEXT (escapes \\n \\r \\xHH) to the UART\n"
          "  --stdin       pipe mode: bytes arriving on stdin also go to the UART\n"
          "  --pty         UART on a pseudo-terminal paced to real time; its path is the\n"
          "                first line on stdout; bytes written to it go to the UART\n"
          "Pipe mode (default) writes the raw UART bytes to stdout.\n",
          stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    const char *constants = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() do { if (!v) usage(); i++; } while (0)
        if (!strcmp(a, "--adc")) { NEED_VALUE(); opt.adc_path = v; }
        else if (!strcmp(a, "--columns")) { NEED_VALUE(); opt.columns = atoi(v); }
        else if (!strcmp(a, "--rate")) { NEED_VALUE(); opt.rate_hz = atof(v); }
        else if (!strcmp(a, "--const")) { NEED_VALUE(); constants = v; }
        else if (!strcmp(a, "--loop")) opt.loop = 1;
        else if (!strcmp(a, "--seconds")) { NEED_VALUE(); opt.seconds = atof(v); }
        else if (!strcmp(a, "--pty")) opt.pty = 1;
        else if (!strcmp(a, "--stdin")) opt.stdin_rx = 1;
        else if (!strcmp(a, "--verbose")) opt.verbose = 1;
        else if (!strcmp(a, "--mcu")) { NEED_VALUE(); opt.mcu = v; }
        else if (!strcmp(a, "--freq")) { NEED_VALUE(); opt.freq = (uint32_t)atol(v); }
        else if (!strcmp(a, "--send")) {
            NEED_VALUE();
            const char *colon = strchr(v, ':');
            if (!colon || opt.n_sends == MAX_SENDS) usage();
            send_t *s = &opt.sends[opt.n_sends++];
            s->at_s = atof(v);
            s->bytes = malloc(strlen(colon) + 1);
            s->len = unescape(colon + 1, s->bytes);
        } else if (a[0] == '-' && a[1]) usage();
        else opt.elf = a;
#undef NEED_VALUE
    }
    if (!opt.elf) usage();
    if (opt.columns < 1 || opt.columns > 8) die("%s", "--columns must be 1..8");
    if (opt.rate_hz <= 0) die("%s", "--rate must be positive");
    if (opt.adc_path) load_rows_f32(opt.adc_path);
    else set_const_rows(constants ? constants : "2500,2500,2500,2500,2500,2500,2500,2500");
    if (opt.seconds < 0 && !opt.pty) opt.seconds = 2.0;
    if (opt.stdin_rx && opt.adc_path && !strcmp(opt.adc_path, "-"))
        die("%s", "--stdin and --adc - both want stdin");
}

static void logger(avr_t *a, const int level, const char *fmt, va_list ap)
{
    (void)a;
    if (level <= LOG_ERROR || (opt.verbose && level <= LOG_WARNING)) vfprintf(stderr, fmt, ap);
}

static void no_sleep(avr_t *a, avr_cycle_count_t how_long)
{
    /* The firmware sleeps between interrupts; the harness paces time itself. */
    (void)a;
    (void)how_long;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);

    /* libsimavr may print to stdout; keep stdout for UART bytes and the pty path only. */
    int out_fd = dup(STDOUT_FILENO);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    FILE *stdout_real = fdopen(out_fd, "wb");
    setvbuf(stdout_real, NULL, _IOFBF, 1 << 16);
    avr_global_logger_set(logger);

    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(opt.elf, &fw) != 0) die("cannot read firmware ELF %s", opt.elf);
    snprintf(fw.mmcu, sizeof fw.mmcu, "%s", opt.mcu);
    fw.frequency = opt.freq;
    fw.vcc = fw.avcc = fw.aref = VREF_MV;
    avr = avr_make_mcu_by_name(fw.mmcu);
    if (!avr) die("simavr does not know the MCU %s", fw.mmcu);
    avr_init(avr);
    avr->log = LOG_WARNING;
    avr_load_firmware(avr, &fw);
    avr->frequency = opt.freq;
    avr->vcc = avr->avcc = avr->aref = VREF_MV;
    avr->sleep = no_sleep;

    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    uart_irq = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), 0);
    adc_irq = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, 0);
    if (!uart_irq || !adc_irq) die("%s", "this MCU has no UART0 or ADC in simavr");
    avr_irq_register_notify(uart_irq + UART_IRQ_OUTPUT, uart_out, NULL);
    avr_irq_register_notify(uart_irq + UART_IRQ_OUT_XON, uart_xon, NULL);
    avr_irq_register_notify(uart_irq + UART_IRQ_OUT_XOFF, uart_xoff, NULL);
    avr_irq_register_notify(adc_irq + ADC_IRQ_OUT_TRIGGER, adc_trigger, NULL);

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    int master = -1, slave = -1;
    if (opt.pty) {
        char name[256];
        if (openpty(&master, &slave, name, NULL, NULL) != 0) die("openpty failed: %s", strerror(errno));
        struct termios tio;
        tcgetattr(slave, &tio);
        cfmakeraw(&tio); /* no echo or line editing: binary both ways */
        tcsetattr(slave, TCSANOW, &tio);
        fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
        /* The harness keeps the slave open so the pty survives a client closing it. */
        fprintf(stdout_real, "%s\n", name);
        fflush(stdout_real);
    } else {
        out_file = stdout_real;
        if (opt.stdin_rx) fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    }

    avr_cycle_count_t io_cycles = (avr_cycle_count_t)(IO_PERIOD_S * opt.freq);
    avr_cycle_count_t next_io = 0;
    avr_cycle_count_t end_cycle =
        opt.seconds >= 0 ? (avr_cycle_count_t)(opt.seconds * opt.freq) : (avr_cycle_count_t)-1;
    int next_send = 0;
    double t0 = now_s();
    int status = 0;

    while (!stop_requested) {
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "emgf_sim: firmware %s at cycle %llu\n",
                    state == cpu_Done ? "stopped" : "crashed", (unsigned long long)avr->cycle);
            status = state == cpu_Crashed ? 1 : 0;
            break;
        }
        if (avr->cycle < next_io) continue;
        next_io = avr->cycle + io_cycles;
        if (avr->cycle >= end_cycle) break;
        double sim_s = (double)avr->cycle / opt.freq;
        for (int i = 0; i < opt.n_sends; i++) {
            send_t *s = &opt.sends[i];
            if (s->len && sim_s >= s->at_s && i >= next_send) {
                bytes_add(&rx_in, (uint8_t *)s->bytes, s->len);
                next_send = i + 1;
            }
        }
        if (opt.stdin_rx) {
            uint8_t buf[256];
            ssize_t n;
            while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0) bytes_add(&rx_in, buf, (size_t)n);
            if (n == 0) opt.stdin_rx = 0; /* end of input */
        }
        if (opt.pty) {
            uint8_t buf[4096];
            ssize_t n;
            while ((n = read(master, buf, sizeof buf)) > 0) bytes_add(&rx_in, buf, (size_t)n);
            while (tx_out.len) {
                ssize_t w = write(master, tx_out.data, tx_out.len);
                if (w <= 0) break;
                bytes_drop_front(&tx_out, (size_t)w);
            }
            double ahead = sim_s - (now_s() - t0);
            if (ahead > 0.001) usleep((useconds_t)(ahead * 1e6));
        }
        feed_rx();
    }
    if (out_file) fflush(out_file);
    if (opt.verbose || tx_lost)
        fprintf(stderr, "emgf_sim: %.3f s simulated, %llu UART bytes (%llu dropped), %llu ADC conversions\n",
                (double)avr->cycle / opt.freq, (unsigned long long)tx_total,
                (unsigned long long)tx_lost, (unsigned long long)conversions);
    if (slave >= 0) close(slave);
    if (master >= 0) close(master);
    return status;
}

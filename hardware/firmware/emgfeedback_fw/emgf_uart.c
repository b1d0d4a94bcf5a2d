/* Interrupt-driven UART for the emgfeedback firmware. See emgf_uart.h. */
#include "emgf_uart.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>

#include "emgf_config.h"

#define TX_MASK (EMGF_TX_SIZE - 1u)
#define RX_MASK (EMGF_RX_SIZE - 1u)

/* U2X double speed: baud = F_CPU / (8 * (UBRR + 1)); exact for these three rates. */
#if EMGF_BAUD == 1000000UL
#define EMGF_UBRR 1
#elif EMGF_BAUD == 500000UL
#define EMGF_UBRR 3
#elif EMGF_BAUD == 250000UL
#define EMGF_UBRR 7
#else
#error "EMGF_BAUD must be 1000000, 500000 or 250000 (exact at 16 MHz)"
#endif

static uint8_t tx_buf[EMGF_TX_SIZE];
static volatile uint16_t tx_head; /* written by the main loop only */
static volatile uint16_t tx_tail; /* written by the UDRE interrupt only */
static uint16_t tx_pos;           /* main loop's unpublished write cursor */

static uint8_t rx_buf[EMGF_RX_SIZE];
static volatile uint8_t rx_head; /* written by the RX interrupt only */
static volatile uint8_t rx_tail; /* written by the main loop only */
static volatile uint8_t rx_overflow;

void uart_init(void)
{
    /* simavr derives the bit time when UBRR is written, so set U2X and the frame format
     * first; the real chip does not care about the order. */
    UCSR0B = 0;
    UCSR0A = _BV(U2X0);
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00); /* 8N1 */
    UBRR0H = 0;
    UBRR0L = EMGF_UBRR;
    tx_head = tx_tail = tx_pos = 0;
    rx_head = rx_tail = 0;
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

uint16_t uart_tx_free(void)
{
    uint16_t tail;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { tail = tx_tail; }
    return (uint16_t)(TX_MASK - ((tx_head - tail) & TX_MASK));
}

uint8_t uart_tx_idle(void)
{
    uint16_t tail;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { tail = tx_tail; }
    return tail == tx_head && (UCSR0A & _BV(UDRE0));
}

void uart_tx_begin(void) { tx_pos = tx_head; }

void uart_tx_put(uint8_t byte)
{
    tx_buf[tx_pos] = byte;
    tx_pos = (tx_pos + 1u) & TX_MASK;
}

void uart_tx_commit(void)
{
    /* The bytes are already in the ring; only now does the interrupt see them. */
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        tx_head = tx_pos;
        UCSR0B |= _BV(UDRIE0);
    }
}

ISR(USART_UDRE_vect)
{
    uint16_t tail = tx_tail;
    if (tail != tx_head) {
        UDR0 = tx_buf[tail];
        tx_tail = (tail + 1u) & TX_MASK;
    } else {
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
    }
}

ISR(USART_RX_vect)
{
    uint8_t byte = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1u) & RX_MASK);
    if (next != rx_tail) {
        rx_buf[rx_head] = byte;
        rx_head = next;
    } else {
        rx_overflow = 1; /* reported by the main loop, never silent */
    }
}

uint8_t uart_rx_waiting(void) { return rx_head != rx_tail || rx_overflow; }

uint8_t uart_rx_overflowed(void)
{
    uint8_t lost = rx_overflow;
    rx_overflow = 0;
    return lost;
}

int16_t uart_rx_get(void)
{
    uint8_t tail = rx_tail;
    if (tail == rx_head) return -1;
    uint8_t byte = rx_buf[tail];
    rx_tail = (uint8_t)((tail + 1u) & RX_MASK);
    return byte;
}

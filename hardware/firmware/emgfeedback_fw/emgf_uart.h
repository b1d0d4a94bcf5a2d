/* Interrupt-driven UART: a transmit ring drained by the UDRE interrupt and a small
 * receive ring filled by the RX interrupt. Only the main loop writes the TX ring. */
#ifndef EMGF_UART_H
#define EMGF_UART_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMGF_TX_SIZE 512u /* power of two */
#define EMGF_RX_SIZE 64u  /* power of two */

void uart_init(void);
/* Bytes that can be queued now without overwriting unsent bytes. */
uint16_t uart_tx_free(void);
/* A transmit transaction: put bytes after the published head, then publish them at once
 * (so the interrupt never sends a half-written frame). Check uart_tx_free() first. */
void uart_tx_begin(void);
void uart_tx_put(uint8_t byte);
void uart_tx_commit(void);
/* True when every queued byte has been handed to the UART. */
uint8_t uart_tx_idle(void);
/* Next received byte, or -1 when none is waiting. */
int16_t uart_rx_get(void);
uint8_t uart_rx_waiting(void);
/* True (once) when received bytes were lost because the receive ring was full. */
uint8_t uart_rx_overflowed(void);

#ifdef __cplusplus
}
#endif

#endif

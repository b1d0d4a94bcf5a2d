/* emgfeedback firmware for the ATmega328P (Arduino Uno, Nano): entry point. */
#ifndef EMGF_FW_H
#define EMGF_FW_H

#ifdef __cplusplus
extern "C" {
#endif

/* Set up the UART, timer1 and the ADC, send the info frame and serve host commands and
 * samples forever. Never returns. */
void emgf_run(void);

#ifdef __cplusplus
}
#endif

#endif

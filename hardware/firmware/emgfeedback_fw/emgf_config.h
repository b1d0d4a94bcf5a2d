/* Compile-time configuration of the emgfeedback firmware (ATmega328P: Uno, Nano).
 *
 * Everything here can be overridden from the compiler command line, e.g. the Makefile's
 * `make BOARD=nano BAUD=500000` passes -DEMGF_BOARD_NANO -DEMGF_BAUD=500000UL. In the
 * Arduino IDE, the board menu decides Uno or Nano; edit the defaults below to change the
 * baud rate or what each input is wired to.
 */
#ifndef EMGF_CONFIG_H
#define EMGF_CONFIG_H

#define EMGF_FW_VERSION "1.0.0"

#ifndef F_CPU
#define F_CPU 16000000UL
#endif

/* UART line rate. Exact at 16 MHz with double speed (U2X): 1000000, 500000, 250000. */
#ifndef EMGF_BAUD
#define EMGF_BAUD 1000000UL
#endif

/* Board: the Uno's DIP ATmega328P has A0..A5; the Nano's TQFP adds A6 and A7. The Arduino
 * IDE defines ARDUINO_AVR_NANO when "Arduino Nano" is the selected board. */
#if !defined(EMGF_BOARD_UNO) && !defined(EMGF_BOARD_NANO)
#if defined(ARDUINO_AVR_NANO)
#define EMGF_BOARD_NANO 1
#else
#define EMGF_BOARD_UNO 1
#endif
#endif

#if defined(EMGF_BOARD_NANO)
#define EMGF_BOARD_NAME "nano"
#define EMGF_MAX_CHANNELS 8
#else
#define EMGF_BOARD_NAME "uno"
#define EMGF_MAX_CHANNELS 6
#endif

/* What each input A0..A7 is wired to, reported in the info frame as "A<n>:<output>".
 * One of "raw", "rect", "env", "ref" (MyoWare 2.0 outputs; MyoWare 1.0 SIG is "env"). */
#ifndef EMGF_INPUT_OUTPUTS
#define EMGF_INPUT_OUTPUTS {"raw", "raw", "raw", "raw", "raw", "raw", "raw", "raw"}
#endif

/* Configuration at power-up (changed at run time with c<n>, f<Hz>, k<n>). */
#ifndef EMGF_DEFAULT_CHANNELS
#define EMGF_DEFAULT_CHANNELS 4
#endif
#ifndef EMGF_DEFAULT_FS_HZ
#define EMGF_DEFAULT_FS_HZ 2000UL
#endif
#ifndef EMGF_DEFAULT_K
#define EMGF_DEFAULT_K 8
#endif

/* Budgets: a configuration is refused when it needs more than this share of the UART
 * line rate or of the sample period for the ADC conversions. */
#define EMGF_UART_LOAD_PERCENT 80UL
#define EMGF_ADC_LOAD_PERCENT 80UL

/* Tests only: accept configurations over the ADC or UART budget, to show that the losses
 * they cause reach the host as counted gaps. Never set this in a firmware for people. */
#ifndef EMGF_UNCHECKED_BUDGETS
#define EMGF_UNCHECKED_BUDGETS 0
#endif

/* Sample rate limits in Hz. */
#define EMGF_MIN_FS_HZ 50UL
#define EMGF_MAX_FS_HZ 20000UL

#endif

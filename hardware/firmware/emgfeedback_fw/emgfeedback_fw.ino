// emgfeedback firmware for Arduino Uno and Nano (ATmega328P, 16 MHz).
//
// Open this folder in the Arduino IDE, pick "Arduino Uno" or "Arduino Nano" under
// Tools > Board, and press Upload. The firmware itself is plain C in the .c files next to
// this sketch; it owns timer1, the ADC and the UART (no Serial, no analogRead), streams
// emgf v1 frames at 1,000,000 baud, and waits for host commands (? b s f<Hz> c<n> k<n>).
// Settings you may edit: emgf_config.h. See ../README.md and ../../WIRING.md.

extern "C" {
#include "emgf_fw.h"
}

void setup() {
  emgf_run();  // never returns
}

void loop() {}

/* Internal interface between the Cortex-M files (startup_cortexm.c, libc_cortexm.c) and the board
 * files (board_mps2.c, board_stm32.c). Not part of the board API in tn_board.h. */
#ifndef TN_CORTEXM_H
#define TN_CORTEXM_H

#include <stddef.h>
#include <stdint.h>

/* Writes n bytes to the board's console (semihosting on QEMU, USART1 on the STM32s); provided by the
 * board file. */
void tn_board_console_write(const char* s, size_t n);

/* Fills the unused part of the stack, from its limit up to just below the caller's frame, with a
 * pattern (startup_cortexm.c). */
void tn_cortexm_paint_stack(void);

/* Bytes between the top of the stack and the lowest word that no longer holds the pattern. */
uint32_t tn_cortexm_stack_peak_bytes(void);

#endif /* TN_CORTEXM_H */

/* Board support of a tinynas firmware bundle: the few services the generated main.c needs around the
 * model (a counter to time inference, stack usage, a name for the report, a clean exit).
 *
 * One implementation per board family, chosen by the Makefile:
 *   board_mps2.c   QEMU mps2-an386 (Cortex-M4) and mps2-an500 (Cortex-M7), printf over semihosting;
 *   board_stm32.c  STM32F746 and STM32H743 (link-only targets), printf over a polling USART1;
 *   board_host.c   the build machine, for checking outputs against the reference quickly.
 *
 * Printing is plain printf. On the Cortex-M boards printf, puts and putchar come from libc_cortexm.c,
 * which needs no heap: integers of every length (%d %u %x %llu ...), strings and characters, but no
 * floating point (it prints "<float>") and no FILE streams (fprintf, fputs and fflush fail to link).
 * Print 64-bit counts with %llu and a cast to unsigned long long: this toolchain's <inttypes.h> has no
 * PRIu64. exit(), abort() and a failed assert() end the run as on the host. C99. */
#ifndef TN_BOARD_H
#define TN_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts the counter and paints the stack for tn_board_stack_peak_bytes(). Call it first in main().
 * On Cortex-M the reset handler has already enabled the FPU, because the C library may run float
 * instructions before main(). */
void tn_board_init(void);

/* A free-running 32-bit counter; only differences taken by tn_board_elapsed_instructions() mean
 * anything. */
uint32_t tn_board_counter(void);

/* Work between two counter readings, with one wrap-around of the counter handled.
 *   QEMU:  executed instructions (under -icount shift=0 the timer ticks once per 40 instructions, so
 *          the result is a multiple of 40; the interval may reach 2^32 ticks, about 171e9 instructions).
 *   STM32: core clock cycles from DWT->CYCCNT (up to 2^32 cycles, about 20 s at 216 MHz).
 *   host:  wall-clock nanoseconds from CLOCK_MONOTONIC (intervals up to 2^32 ns, about 4.29 s). */
uint64_t tn_board_elapsed_instructions(uint32_t start, uint32_t end);

/* The board's name as the tools spell it, e.g. "mps2-an386", "stm32f746", "host". */
const char* tn_board_name(void);

/* Deepest stack use so far, in bytes from the top of the stack: tn_board_init() paints the free stack
 * with a pattern and this scans for the lowest word no longer holding it. A result equal to the stack
 * size (the linker script's __tn_stack_size) means the stack overflowed. 0 on the host, whose stack is
 * not ours to paint. */
uint32_t tn_board_stack_peak_bytes(void);

/* Ends the program with the code: the host and QEMU pass it on as their exit status (through
 * semihosting), a real board waits for its UART to drain and sleeps. Returning from main() does the
 * same. A fault on Cortex-M ends the run with 128 + the exception number (131 for a HardFault). */
void tn_board_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* TN_BOARD_H */

/* The build machine: the same main.c and kernels as on the boards, to check outputs quickly. The
 * counter is CLOCK_MONOTONIC in nanoseconds, so on the host tn_board_elapsed_instructions() reports
 * wall-clock nanoseconds, not instructions. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c99 */

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "tn_board.h"

void tn_board_init(void) {}

/* The low 32 bits of the nanosecond clock: differences stay exact for intervals under 2^32 ns
 * (4.29 s), far longer than one inference. */
uint32_t tn_board_counter(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint32_t)((uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec);
}

uint64_t tn_board_elapsed_instructions(uint32_t start, uint32_t end) { return (uint32_t)(end - start); }

const char* tn_board_name(void) { return "host"; }

/* The host's stack belongs to the operating system and starts deep in the C runtime: not measured. */
uint32_t tn_board_stack_peak_bytes(void) { return 0; }

void tn_board_exit(int code) { exit(code); }

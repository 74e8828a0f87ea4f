/* QEMU mps2-an386 (Cortex-M4) and mps2-an500 (Cortex-M7); the Makefile defines TN_BOARD_MPS2_AN386
 * or TN_BOARD_MPS2_AN500. Console and exit go to the host through semihosting
 * (-semihosting-config enable=on,target=native).
 *
 * Counter: the CMSDK APB timer 0. Under -icount shift=0 QEMU's virtual clock advances 1 ns per
 * executed instruction and the timer runs at 25 MHz, so one tick is exactly 40 instructions, and two
 * runs of the same firmware read identical values. SysTick gives no finer resolution: QEMU clocks it
 * from the same 25 MHz system clock (or from the 1 MHz reference clock: 1000 instructions per tick),
 * and it is only 24 bits wide, wrapping after 0.67 s of virtual time against the timer's 171 s. */
#include <stddef.h>
#include <stdint.h>

#include "tn_board.h"
#include "tn_cortexm.h"

#if defined(TN_BOARD_MPS2_AN386)
#define TN_BOARD_NAME "mps2-an386"
#elif defined(TN_BOARD_MPS2_AN500)
#define TN_BOARD_NAME "mps2-an500"
#else
#error "board_mps2.c needs TN_BOARD_MPS2_AN386 or TN_BOARD_MPS2_AN500"
#endif

/* 1 ns per instruction (-icount shift=0) / 40 ns per tick of the 25 MHz timer. */
#define TN_INSTRUCTIONS_PER_TICK 40u

/* CMSDK APB timer 0: a 32-bit down-counter that reloads from RELOAD when it reaches zero. */
#define TN_TIMER0_CTRL (*(volatile uint32_t*)0x40000000u)
#define TN_TIMER0_VALUE (*(volatile uint32_t*)0x40000004u)
#define TN_TIMER0_RELOAD (*(volatile uint32_t*)0x40000008u)

void tn_board_init(void) {
  TN_TIMER0_CTRL = 0;
  TN_TIMER0_RELOAD = 0xFFFFFFFFu;
  TN_TIMER0_VALUE = 0xFFFFFFFFu;
  TN_TIMER0_CTRL = 1u; /* enable; no interrupt, internal clock */
  tn_cortexm_paint_stack();
}

/* Inverted so that it counts up like every other board's counter. */
uint32_t tn_board_counter(void) { return ~TN_TIMER0_VALUE; }

uint64_t tn_board_elapsed_instructions(uint32_t start, uint32_t end) {
  return (uint64_t)(uint32_t)(end - start) * TN_INSTRUCTIONS_PER_TICK;
}

const char* tn_board_name(void) { return TN_BOARD_NAME; }

uint32_t tn_board_stack_peak_bytes(void) { return tn_cortexm_stack_peak_bytes(); }

/* --- semihosting (ARM's "Semihosting for AArch32 and AArch64", v2) ---------------------------- */
enum { TN_SYS_OPEN = 0x01, TN_SYS_WRITE = 0x05, TN_SYS_EXIT = 0x18, TN_SYS_EXIT_EXTENDED = 0x20 };
#define TN_ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t tn_semihost(uint32_t operation, const void* block) {
  register uint32_t r0 __asm__("r0") = operation;
  register const void* r1 __asm__("r1") = block;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* ":tt" opened for writing is QEMU's stdout (SYS_WRITE0 would go to its stderr). */
void tn_board_console_write(const char* s, size_t n) {
  static int32_t handle = -1;
  if (handle < 0) {
    const uint32_t open_block[3] = {(uint32_t)(uintptr_t)":tt", 4u /* mode "w" */, 3u /* strlen */};
    handle = (int32_t)tn_semihost(TN_SYS_OPEN, open_block);
    if (handle < 0) return;
  }
  const uint32_t write_block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)s, (uint32_t)n};
  tn_semihost(TN_SYS_WRITE, write_block);
}

/* SYS_EXIT_EXTENDED hands the code to QEMU, which exits with it; plain SYS_EXIT only tells success
 * from failure. */
void tn_board_exit(int code) {
  const uint32_t block[2] = {TN_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
  tn_semihost(TN_SYS_EXIT_EXTENDED, block);
  tn_semihost(TN_SYS_EXIT, (const void*)(uintptr_t)TN_ADP_STOPPED_APPLICATION_EXIT);
  for (;;) {
  }
}

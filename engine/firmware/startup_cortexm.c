/* Start-up code shared by the Cortex-M boards (QEMU mps2-an386/an500, STM32F746/H743): the vector
 * table, the reset handler and the stack painting. Our own rather than newlib's crt0, because that one
 * expects a debugger to have loaded it into RAM and has no vector table, while every board here (QEMU
 * included) boots from the table at the start of its code region and must copy .data out of Flash.
 *
 * The symbols __tn_* come from the board's linker script (see cortexm_sections.ld). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tn_board.h"
#include "tn_cortexm.h"

extern uint32_t __tn_stack_limit[], __tn_stack_top[];
extern uint32_t __tn_data_start[], __tn_data_end[], __tn_data_load[];
extern uint32_t __tn_bss_start[], __tn_bss_end[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);

#define TN_SCB_CPACR (*(volatile uint32_t*)0xE000ED88u)

void Reset_Handler(void) {
  /* Full access to CP10/CP11 before anything else: with -mfloat-abi=hard any function below may
   * touch the FPU, and without this the first float instruction faults. */
  TN_SCB_CPACR |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");

  /* Neither memcpy nor memset reads .data or .bss, so both are safe before those are set up. */
  memcpy(__tn_data_start, __tn_data_load, (size_t)((char*)__tn_data_end - (char*)__tn_data_start));
  memset(__tn_bss_start, 0, (size_t)((char*)__tn_bss_end - (char*)__tn_bss_start));

  /* No call into the C library's start-up: its little state lives in .data, and C code has no static
   * constructors for __libc_init_array to run. */
  tn_board_exit(main());
}

/* A fault or an unexpected exception ends the run with exit code 128 + the exception number (131 for
 * a HardFault), so that a crash under QEMU fails fast instead of hanging until the timeout. */
void Default_Handler(void) {
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  ipsr &= 0x1FFu;
  printf("fault: exception %lu\n", (unsigned long)ipsr);
  tn_board_exit(128 + (int)ipsr);
}

/* The 16 system exceptions; no peripheral interrupt is ever enabled, so none has an entry. */
__attribute__((section(".isr_vector"), used)) static void (*const tn_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__tn_stack_top,
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    0,
    0,
    0,
    0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
};

/* Not one byte repeated, so that the compiler cannot turn the paint loop into a call to memset, whose
 * own frame would lie inside the painted range. */
#define TN_STACK_PATTERN 0x5AA5C33Cu

void tn_cortexm_paint_stack(void) {
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  /* 64 bytes of slack below the live frame, for anything kept under sp. */
  volatile uint32_t* const end = (volatile uint32_t*)((sp - 64u) & ~3u);
  for (volatile uint32_t* p = __tn_stack_limit; p < end; ++p) *p = TN_STACK_PATTERN;
}

uint32_t tn_cortexm_stack_peak_bytes(void) {
  const volatile uint32_t* p = __tn_stack_limit;
  while (p < __tn_stack_top && *p == TN_STACK_PATTERN) ++p;
  return (uint32_t)((const char*)__tn_stack_top - (const char*)p);
}

/* STM32F412 (Cortex-M4), STM32F746 and STM32H743 (Cortex-M7); the Makefile defines TN_BOARD_STM32F412,
 * TN_BOARD_STM32F746 or TN_BOARD_STM32H743. These builds are linked to prove that a model fits the
 * board's Flash and SRAM; the code is complete enough to run on a real board as it comes out of reset
 * (internal HSI oscillator, no PLL, caches off), printing on USART1 (TX on PA9, 115200 8N1) — the
 * ST-LINK virtual COM port of the STM32F746G-DISCO board.
 *
 * Counter: the core's cycle counter DWT->CYCCNT, so on these boards the "instructions" of
 * tn_board_elapsed_instructions() are clock cycles. */
#include <stddef.h>
#include <stdint.h>

#include "tn_board.h"
#include "tn_cortexm.h"

#define TN_REG(address) (*(volatile uint32_t*)(address))

#if defined(TN_BOARD_STM32F412)
#define TN_BOARD_NAME "stm32f412"
#define TN_RCC_GPIOA_ENR TN_REG(0x40023830u) /* RCC_AHB1ENR */
#define TN_RCC_USART1_ENR TN_REG(0x40023844u) /* RCC_APB2ENR */
#define TN_GPIOA 0x40020000u
#define TN_USART1_CLOCK_HZ 16000000u /* HSI; APB2 undivided after reset */
#elif defined(TN_BOARD_STM32F746)
#define TN_BOARD_NAME "stm32f746"
#define TN_RCC_GPIOA_ENR TN_REG(0x40023830u) /* RCC_AHB1ENR */
#define TN_RCC_USART1_ENR TN_REG(0x40023844u) /* RCC_APB2ENR */
#define TN_GPIOA 0x40020000u
#define TN_USART1_CLOCK_HZ 16000000u /* HSI; APB2 undivided after reset */
#elif defined(TN_BOARD_STM32H743)
#define TN_BOARD_NAME "stm32h743"
#define TN_RCC_GPIOA_ENR TN_REG(0x580244E0u) /* RCC_AHB4ENR */
#define TN_RCC_USART1_ENR TN_REG(0x580244F0u) /* RCC_APB2ENR */
#define TN_GPIOA 0x58020000u
#define TN_USART1_CLOCK_HZ 64000000u /* HSI; USART1 kernel clock = PCLK2 after reset */
#else
#error "board_stm32.c needs TN_BOARD_STM32F412, TN_BOARD_STM32F746 or TN_BOARD_STM32H743"
#endif

#define TN_RCC_GPIOAEN (1u << 0)
#define TN_RCC_USART1EN (1u << 4)
#define TN_GPIOA_MODER TN_REG(TN_GPIOA + 0x00u)
#define TN_GPIOA_AFRH TN_REG(TN_GPIOA + 0x24u)

/* USART1 sits at 0x40011000 on all three. The F7 and H7 share one register layout; the F4's older USART
 * has the status, data, baud and control registers at other offsets and its enable bit elsewhere (the
 * status bits TXE and TC are the same). */
#if defined(TN_BOARD_STM32F412)
#define TN_USART1_ISR TN_REG(0x40011000u) /* USART_SR */
#define TN_USART1_TDR TN_REG(0x40011004u) /* USART_DR */
#define TN_USART1_BRR TN_REG(0x40011008u)
#define TN_USART1_CR1 TN_REG(0x4001100Cu)
#define TN_USART_CR1_UE (1u << 13)
#else
#define TN_USART1_CR1 TN_REG(0x40011000u)
#define TN_USART1_BRR TN_REG(0x4001100Cu)
#define TN_USART1_ISR TN_REG(0x4001101Cu)
#define TN_USART1_TDR TN_REG(0x40011028u)
#define TN_USART_CR1_UE (1u << 0)
#endif
#define TN_USART_CR1_TE (1u << 3)
#define TN_USART_ISR_TC (1u << 6)
#define TN_USART_ISR_TXE (1u << 7)
#define TN_BAUD 115200u

#define TN_DEMCR TN_REG(0xE000EDFCu)
#define TN_DEMCR_TRCENA (1u << 24)
#define TN_DWT_CTRL TN_REG(0xE0001000u)
#define TN_DWT_CYCCNT TN_REG(0xE0001004u)
#define TN_DWT_LAR TN_REG(0xE0001FB0u)

static void tn_usart1_init(void) {
  TN_RCC_GPIOA_ENR |= TN_RCC_GPIOAEN;
  TN_RCC_USART1_ENR |= TN_RCC_USART1EN;
  (void)TN_RCC_USART1_ENR; /* read back: the clock must be running before the registers are written */
  /* PA9: alternate function 7 (USART1_TX). */
  TN_GPIOA_MODER = (TN_GPIOA_MODER & ~(3u << 18)) | (2u << 18);
  TN_GPIOA_AFRH = (TN_GPIOA_AFRH & ~(0xFu << 4)) | (7u << 4);
  TN_USART1_CR1 = 0;
  TN_USART1_BRR = (TN_USART1_CLOCK_HZ + TN_BAUD / 2) / TN_BAUD; /* oversampling by 16 */
  TN_USART1_CR1 = TN_USART_CR1_UE | TN_USART_CR1_TE;
}

void tn_board_init(void) {
  /* The Cortex-M7 locks the DWT registers until the key is written to its lock access register (the
   * write is harmless on the Cortex-M4). */
  TN_DEMCR |= TN_DEMCR_TRCENA;
  TN_DWT_LAR = 0xC5ACCE55u;
  TN_DWT_CYCCNT = 0;
  TN_DWT_CTRL |= 1u; /* CYCCNTENA */
  tn_cortexm_paint_stack();
}

uint32_t tn_board_counter(void) { return TN_DWT_CYCCNT; }

uint64_t tn_board_elapsed_instructions(uint32_t start, uint32_t end) { return (uint32_t)(end - start); }

const char* tn_board_name(void) { return TN_BOARD_NAME; }

uint32_t tn_board_stack_peak_bytes(void) { return tn_cortexm_stack_peak_bytes(); }

/* Polling, so that printing needs no interrupt and no buffer. */
void tn_board_console_write(const char* s, size_t n) {
  static int ready = 0;
  if (!ready) {
    tn_usart1_init();
    ready = 1;
  }
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == '\n') {
      while (!(TN_USART1_ISR & TN_USART_ISR_TXE)) {
      }
      TN_USART1_TDR = '\r'; /* terminals expect CR LF */
    }
    while (!(TN_USART1_ISR & TN_USART_ISR_TXE)) {
    }
    TN_USART1_TDR = (uint8_t)s[i];
  }
}

/* There is nowhere to return to: let the last character leave, then sleep. */
void tn_board_exit(int code) {
  (void)code;
  if (TN_USART1_CR1 & TN_USART_CR1_UE) {
    while (!(TN_USART1_ISR & TN_USART_ISR_TC)) {
    }
  }
  for (;;) __asm__ volatile("wfi");
}

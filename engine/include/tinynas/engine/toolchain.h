#pragma once
// Building and running firmware bundles: the boards a bundle targets, the board support copied into
// it (engine/firmware), the make call that builds it with the host cc or arm-none-eabi-gcc, and the
// runs on the host or in QEMU. External tools are started with an argument vector, never a shell.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/mcu.h"

namespace tinynas::engine {

struct Board {
  std::string name;          // as the tools and the CLI spell it: "mps2-an386", "stm32f746", "host"
  std::string core;          // "cortex-m4", "cortex-m7"; empty for the host
  std::string qemu_machine;  // QEMU -M value; empty for link-only boards and the host
  int64_t flash_bytes = 0;   // the code region of the board's linker script
  int64_t sram_bytes = 0;    // the RAM region of the board's linker script (data, bss and stack)
  double clock_hz = 0.0;     // core clock; QEMU's MPS2 machines count instructions, not cycles
  std::string make_target;   // target of the bundle Makefile
  bool runs_in_qemu() const { return !qemu_machine.empty(); }
  bool is_host() const { return core.empty(); }
};

// mps2-an386 (QEMU, Cortex-M4), mps2-an500 (QEMU, Cortex-M7), stm32f412, stm32f746 and stm32h743 (link
// only), and host (the build machine's cc).
const std::vector<Board>& known_boards();

// Throws InputError listing the known names when `name` is not one of them.
const Board& board_by_name(const std::string& name);
// The board an MCU profile's firmware is built for: its QEMU machine for emulated profiles, else the
// board of the same name. Throws InputError naming the profile when there is none.
const Board& board_for_mcu(const McuProfile& mcu);

// The board support sources: firmware/ of the data directory (core/data_dir.h).
std::string firmware_dir();

// Copies every board support file (tn_board.h, board_*.c, *_cortexm.c, linker scripts, Makefile) into
// the bundle directory, creating it if needed and replacing older copies. Throws RuntimeFailure when
// the firmware directory is missing or a file cannot be written.
void copy_board_support(const std::string& bundle_dir);

// arm-none-eabi-gcc / qemu-system-arm on PATH.
bool arm_toolchain_available();
bool qemu_available();

struct BuildResult {
  bool ok = false;
  std::string log;  // make's stdout and stderr; on failure it holds the compiler's or linker's message
  std::string elf;  // the built program (an ELF for the Cortex-M boards, an executable for the host)
  std::string map;  // the linker map (Cortex-M boards)
  // arm-none-eabi-size of the ELF (Berkeley format): text = code + constants + vector table, data =
  // initialised variables (stored in Flash, copied to RAM), bss = zeroed variables + the stack. All
  // zero for the host, whose sizes mean nothing for a board.
  int64_t text = 0, data = 0, bss = 0;
  // Every allocated section of the ELF with its size (arm-none-eabi-size -A): .text, .rodata, .data,
  // .bss, the stack, ... in the order of the file.
  std::vector<std::pair<std::string, int64_t>> sections;
  int64_t flash_bytes() const { return text + data; }
  int64_t ram_bytes() const { return data + bss; }
  // The firmware did not fit a memory region of the board ("region `STM32F746_SRAM' overflowed").
  bool does_not_fit() const;
  // The lines of the log that say what went wrong (errors, overflowed regions, undefined references),
  // for an error message; the whole log's tail when none is recognised.
  std::string error_summary() const;
};

// Runs `make -C bundle_dir <board.make_target>`. A failed build (compile error, a region that
// overflows) is not an exception: ok is false and the log says why; the caller words the error and
// names the board. Throws InputError when the directory holds no Makefile.
BuildResult build_bundle(const std::string& bundle_dir, const Board& board);

struct RunResult {
  bool ok = false;         // exited by itself with status 0
  int exit_code = -1;      // the program's exit status; -1 when killed or timed out
  bool timed_out = false;  // killed after timeout_s
  std::string output;      // the program's stdout (on QEMU: its semihosting console)
  std::string errors;      // its stderr (QEMU's own messages)
};

// QEMU with -icount shift=0,align=off,sleep=off (one virtual nanosecond per instruction, so the
// firmware's counter counts instructions repeatably) and semihosting for output and exit status.
// Throws InputError for a board QEMU does not emulate.
RunResult run_in_qemu(const std::string& elf, const Board& board, double timeout_s);

// Runs a host build of a bundle.
RunResult run_host(const std::string& exe, double timeout_s);

// The size of a symbol of a Cortex-M build (arm-none-eabi-nm -S), e.g. the model's arena; -1 when
// the ELF has no such symbol.
int64_t symbol_size(const std::string& elf, const std::string& symbol);

// The QEMU command line run_in_qemu() uses, for logs and for reproducing a run by hand.
std::vector<std::string> qemu_command(const std::string& elf, const Board& board);

}  // namespace tinynas::engine

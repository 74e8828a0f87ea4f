// Board support of the firmware bundles: a small bundle (the board files, a kernel in kernels/, a main.c
// that times a loop of known length) built for the host, run in QEMU on the Cortex-M4 and Cortex-M7
// machines, and linked for the STM32 boards, where a firmware that does not fit must fail to link.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "test_helpers.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/core/errors.h"

using namespace tinynas;
using namespace tinynas::engine;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;

namespace {

namespace fs = std::filesystem;

constexpr double kTimeoutSeconds = 60.0;
constexpr uint64_t kLoops = 100000;

// Stands in for the kernels: the Makefile must compile kernels/*.c and find kernels/ headers.
const char* const kKernelHeader = R"(#ifndef TN_TEST_KERNEL_H
#define TN_TEST_KERNEL_H
#include <stdint.h>
int32_t tn_test_dot(const int8_t* a, const int8_t* b, int32_t n);
#endif
)";
const char* const kKernelSource = R"(#include "tn_test_kernel.h"
int32_t tn_test_dot(const int8_t* a, const int8_t* b, int32_t n) {
  int32_t acc = 0;
  for (int32_t i = 0; i < n; ++i) acc += (int32_t)a[i] * (int32_t)b[i];
  return acc;
}
)";

// Times a loop of exactly 2 instructions per iteration on Cortex-M (subs, bne), then prints what the
// test checks; the lines ending in "\n" without arguments go through puts, the '!' through putchar.
const char* const kTimingMain = R"(#include <stdint.h>
#include <stdio.h>
#include "tn_board.h"
#include "tn_test_kernel.h"

static void burn(uint32_t n) {
#if defined(__arm__)
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
#else
  for (volatile uint32_t i = 0; i < n; ++i) {
  }
#endif
}

static const int8_t a[4] = {1, -2, 3, -4}, b[4] = {5, 6, -7, 8};

int main(void) {
  tn_board_init();
  const uint32_t t0 = tn_board_counter();
  burn(100000u);
  const uint32_t t1 = tn_board_counter();
  printf("board=%s\n", tn_board_name());
  printf("loop=%llu\n", (unsigned long long)tn_board_elapsed_instructions(t0, t1));
  printf("dot=%ld\n", (long)tn_test_dot(a, b, 4));
  printf("formats=%d|%5u|%-4s|%05ld|%llx|%c|%%\n", -12, 34u, "ab", 56L, 0x123456789abULL, 'z');
  printf("puts\n");
  putchar('!');
  putchar('\n');
  printf("stack=%lu\n", (unsigned long)tn_board_stack_peak_bytes());
  return 0;
}
)";

// Copies the board support into a fresh bundle and adds the test's main.c and kernel.
void make_bundle(const TempDir& dir, const std::string& main_c) {
  copy_board_support(dir.path.string());
  fs::create_directories(dir.path / "kernels");
  dir.write("kernels/tn_test_kernel.h", kKernelHeader);
  dir.write("kernels/tn_test_kernel.c", kKernelSource);
  dir.write("main.c", main_c);
}

// "key=value" lines of a run's output.
std::map<std::string, std::string> parse_lines(const std::string& output) {
  std::map<std::string, std::string> values;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

const char* const kExpectedFormats = "-12|   34|ab  |00056|123456789ab|z|%";

}  // namespace

TEST(FirmwareBoards, KnownBoards) {
  const Board& m4 = board_by_name("mps2-an386");
  EXPECT_EQ(m4.core, "cortex-m4");
  EXPECT_EQ(m4.qemu_machine, "mps2-an386");
  EXPECT_TRUE(m4.runs_in_qemu());
  EXPECT_EQ(board_by_name("mps2-an500").core, "cortex-m7");
  const Board& f7 = board_by_name("stm32f746");
  EXPECT_FALSE(f7.runs_in_qemu());
  EXPECT_EQ(f7.flash_bytes, 1024 * 1024);
  EXPECT_EQ(f7.sram_bytes, 320 * 1024);
  EXPECT_DOUBLE_EQ(f7.clock_hz, 216e6);
  EXPECT_EQ(f7.make_target, "stm32f746");
  const Board& f4 = board_by_name("stm32f412");
  EXPECT_EQ(f4.core, "cortex-m4");
  EXPECT_FALSE(f4.runs_in_qemu());
  EXPECT_EQ(f4.flash_bytes, 1024 * 1024);
  EXPECT_EQ(f4.sram_bytes, 256 * 1024);
  const Board& h7 = board_by_name("stm32h743");
  EXPECT_EQ(h7.flash_bytes, 2 * 1024 * 1024);
  EXPECT_EQ(h7.sram_bytes, 512 * 1024);
  EXPECT_TRUE(board_by_name("host").is_host());
}

TEST(FirmwareBoards, AnMcuProfilesBoardIsItsQemuMachineOrItsName) {
  McuProfile emulated;
  emulated.name = "qemu-m4";
  emulated.qemu_machine = "mps2-an386";
  EXPECT_EQ(board_for_mcu(emulated).name, "mps2-an386");
  McuProfile real;
  real.name = "stm32f746";
  EXPECT_EQ(board_for_mcu(real).name, "stm32f746");
  real.name = "stm32l476";  // a profile without board support
  EXPECT_NE(tinynas_test::input_error_message([&] { board_for_mcu(real); }).find("stm32l476"), std::string::npos);
}

TEST(FirmwareBoards, UnknownBoardListsTheKnownOnes) {
  const std::string message = input_error_message([] { board_by_name("stm32f999"); });
  EXPECT_NE(message.find("stm32f999"), std::string::npos) << message;
  for (const char* name : {"mps2-an386", "mps2-an500", "stm32f412", "stm32f746", "stm32h743"})
    EXPECT_NE(message.find(name), std::string::npos) << message;
}

TEST(FirmwareBoards, RunInQemuRefusesALinkOnlyBoard) {
  const std::string message = input_error_message([] { run_in_qemu("x.elf", board_by_name("stm32f746"), 1.0); });
  EXPECT_NE(message.find("stm32f746"), std::string::npos) << message;
}

TEST(FirmwareBundle, CopyBoardSupportCopiesEveryBoardFile) {
  TempDir dir;
  const fs::path bundle = dir.path / "bundle";
  copy_board_support(bundle.string());
  for (const char* name : {"Makefile", "tn_board.h", "tn_cortexm.h", "board_host.c", "board_mps2.c", "board_stm32.c",
                           "startup_cortexm.c", "libc_cortexm.c", "cortexm_sections.ld", "mps2_an386.ld",
                           "mps2_an500.ld", "stm32f412.ld", "stm32f746.ld", "stm32h743.ld"})
    EXPECT_TRUE(fs::is_regular_file(bundle / name)) << name;
  // Copying again replaces the files and leaves no temporaries behind.
  copy_board_support(bundle.string());
  for (const auto& entry : fs::directory_iterator(bundle))
    EXPECT_NE(entry.path().filename().string().front(), '.') << entry.path();
}

TEST(FirmwareBundle, BuildOfADirectoryWithoutMakefileIsAnInputError) {
  TempDir dir;
  const std::string message = input_error_message([&] { build_bundle(dir.path.string(), board_by_name("host")); });
  EXPECT_NE(message.find("Makefile"), std::string::npos) << message;
}

TEST(FirmwareHost, BuildsAndRuns) {
  TempDir dir;
  make_bundle(dir, kTimingMain);
  const BuildResult build = build_bundle(dir.path.string(), board_by_name("host"));
  ASSERT_TRUE(build.ok) << build.log;
  EXPECT_EQ(build.log.find("warning"), std::string::npos) << build.log;
  const RunResult run = run_host(build.elf, kTimeoutSeconds);
  ASSERT_TRUE(run.ok) << run.output << run.errors;
  auto values = parse_lines(run.output);
  EXPECT_EQ(values["board"], "host");
  EXPECT_EQ(values["dot"], "-60");
  EXPECT_EQ(values["formats"], kExpectedFormats);
  EXPECT_EQ(values["stack"], "0");
  EXPECT_GT(std::stoull(values["loop"]), 0u);  // nanoseconds on the host
  EXPECT_NE(run.output.find("puts\n!\n"), std::string::npos) << run.output;
}

// The Cortex-M printf (libc_cortexm.c), built for the host with its functions renamed, against the C
// library's snprintf on the same formats; on a 64-bit host this also covers a 64-bit long.
TEST(FirmwareHost, CortexMPrintfMatchesTheCLibrary) {
  TempDir dir;
  make_bundle(dir, R"(#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
int tn_printf(const char* format, ...) __attribute__((format(printf, 1, 2)));
static char got[1024];
static size_t used;
void tn_board_console_write(const char* s, size_t n);
void tn_board_console_write(const char* s, size_t n) { memcpy(got + used, s, n); used += n; }
static int failures;
#define CHECK(...) do { \
    char want[1024]; \
    const int n_want = snprintf(want, sizeof want, __VA_ARGS__); \
    used = 0; \
    const int n_got = tn_printf(__VA_ARGS__); \
    got[used] = 0; \
    if (strcmp(want, got) != 0 || n_want != n_got) { \
      printf("%s: want [%s] %d, got [%s] %d\n", #__VA_ARGS__, want, n_want, got, n_got); ++failures; } \
  } while (0)
int main(void) {
  static char long_text[301];
  memset(long_text, 'x', 300);
  CHECK("plain text");
  CHECK("%d %i %d %d", 0, 7, -7, 2147483647);
  CHECK("%d", (int)-2147483647 - 1);
  CHECK("%u %o %x %X", 4294967295u, 8u, 0xbeefu, 0xbeefu);
  CHECK("%lld %llu %llx", (long long)INT64_MIN, (unsigned long long)UINT64_MAX, 0x123456789abcdefULL);
  CHECK("%ld %lu %lx", -1234567890L, 3000000000UL, 0xdeadUL);
  CHECK("%hhd %hhu %hd %hu", 200, 300, 40000, 70000);
  CHECK("%zu %td %jd %ju", (size_t)12345, (ptrdiff_t)-6, (intmax_t)-7, (uintmax_t)8);
  CHECK("[%5d] [%-5d] [%05d] [%+d] [% d] [%+5d] [%-+5d]", 42, 42, -42, 42, 42, 42, 42);
  CHECK("[%.3d] [%8.3d] [%-8.3x] [%.0d] [%.0x] [%08.3d]", 7, -7, 255u, 0, 0u, 5);
  CHECK("[%#o] [%#o] [%#x] [%#X] [%#x] [%#10x] [%#010x]", 8u, 0u, 255u, 255u, 0u, 255u, 255u);
  CHECK("[%*d] [%-*d] [%*d] [%.*d] [%.*d]", 6, 1, 6, 2, -6, 3, 4, 5, -1, 6);
  CHECK("[%s] [%10s] [%-10s] [%.2s] [%*.*s]", "abc", "abc", "abc", "abc", 5, 1, "abc");
  CHECK("[%c] [%3c] [%-3c] [%%]", 'a', 'b', 'c');
  CHECK("%p", (void*)0x1234);
  CHECK("%s", long_text);
  CHECK("%s|%d|%s", long_text, 99, long_text);
  printf("failures=%d\n", failures);
  return failures;
}
)");
  dir.write("printf_under_test.c", R"(/* libc_cortexm.c with its C library names moved aside. */
#define printf tn_printf
#define vprintf tn_vprintf
#define puts tn_puts
#define putchar tn_putchar
#define _exit tn_exit_hook
#define abort tn_abort
#define __assert_func tn_assert_func
#include "libc_cortexm.c"
)");
  const BuildResult build = build_bundle(dir.path.string(), board_by_name("host"));
  ASSERT_TRUE(build.ok) << build.log;
  const RunResult run = run_host(build.elf, kTimeoutSeconds);
  EXPECT_TRUE(run.ok) << run.output << run.errors;
  EXPECT_NE(run.output.find("failures=0"), std::string::npos) << run.output;
}

class FirmwareQemu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
    if (!qemu_available()) GTEST_SKIP() << "qemu-system-arm is not installed";
  }
};

TEST_P(FirmwareQemu, CountsInstructionsRepeatably) {
  const Board& board = board_by_name(GetParam());
  TempDir dir;
  make_bundle(dir, kTimingMain);
  const BuildResult build = build_bundle(dir.path.string(), board);
  ASSERT_TRUE(build.ok) << build.log;
  EXPECT_EQ(build.log.find("warning"), std::string::npos) << build.log;
  EXPECT_TRUE(fs::is_regular_file(build.map));
  EXPECT_GT(build.text, 0);
  EXPECT_GE(build.bss, 16 * 1024);  // the stack
  EXPECT_EQ(build.flash_bytes(), build.text + build.data);
  EXPECT_EQ(build.ram_bytes(), build.data + build.bss);

  const RunResult first = run_in_qemu(build.elf, board, kTimeoutSeconds);
  ASSERT_TRUE(first.ok) << "exit " << first.exit_code << "\n" << first.output << first.errors;
  auto values = parse_lines(first.output);
  EXPECT_EQ(values["board"], board.name);
  EXPECT_EQ(values["dot"], "-60");
  EXPECT_EQ(values["formats"], kExpectedFormats);
  EXPECT_NE(first.output.find("puts\n!\n"), std::string::npos) << first.output;
  // 2 instructions per iteration, a few more around the loop, and the timer's 40-instruction ticks.
  const uint64_t loop = std::stoull(values["loop"]);
  EXPECT_EQ(loop % 40, 0u) << loop;
  EXPECT_GE(loop, 2 * kLoops - 40);
  EXPECT_LE(loop, 2 * kLoops + 120);
  const unsigned long stack = std::stoul(values["stack"]);
  EXPECT_GT(stack, 0u);
  EXPECT_LT(stack, 2048u);

  const RunResult second = run_in_qemu(build.elf, board, kTimeoutSeconds);
  ASSERT_TRUE(second.ok) << second.output << second.errors;
  EXPECT_EQ(second.output, first.output);
}

// A crash ends the run at once with 128 + the exception number (HardFault: 3), not at the timeout.
TEST_P(FirmwareQemu, FaultEndsTheRunWithTheExceptionNumber) {
  const Board& board = board_by_name(GetParam());
  TempDir dir;
  make_bundle(dir, R"(#include <stdio.h>
#include "tn_board.h"
int main(void) {
  tn_board_init();
  printf("before\n");
  __builtin_trap();
  printf("after\n");
  return 0;
}
)");
  const BuildResult build = build_bundle(dir.path.string(), board);
  ASSERT_TRUE(build.ok) << build.log;
  const RunResult run = run_in_qemu(build.elf, board, kTimeoutSeconds);
  EXPECT_FALSE(run.ok);
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.exit_code, 131) << run.output << run.errors;
  EXPECT_EQ(run.output, "before\nfault: exception 3\n");
}

// A firmware that never ends is killed at the timeout, with what it printed so far.
TEST(FirmwareQemuTimeout, AHangingFirmwareIsKilled) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  if (!qemu_available()) GTEST_SKIP() << "qemu-system-arm is not installed";
  const Board& board = board_by_name("mps2-an386");
  TempDir dir;
  make_bundle(dir, R"(#include <stdio.h>
#include "tn_board.h"
int main(void) {
  tn_board_init();
  printf("spinning\n");
  for (volatile int i = 0; i >= 0; i = 1) {
  }
  return 0;
}
)");
  const BuildResult build = build_bundle(dir.path.string(), board);
  ASSERT_TRUE(build.ok) << build.log;
  const RunResult run = run_in_qemu(build.elf, board, 1.0);
  EXPECT_FALSE(run.ok);
  EXPECT_TRUE(run.timed_out);
  EXPECT_EQ(run.exit_code, -1);
  EXPECT_EQ(run.output, "spinning\n");
}

INSTANTIATE_TEST_SUITE_P(Mps2, FirmwareQemu, ::testing::Values("mps2-an386", "mps2-an500"),
                         [](const auto& info) { return info.param == "mps2-an386" ? "An386" : "An500"; });

class FirmwareStm32 : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  }
};

TEST_P(FirmwareStm32, LinksASmallFirmware) {
  const Board& board = board_by_name(GetParam());
  TempDir dir;
  make_bundle(dir, kTimingMain);
  const BuildResult build = build_bundle(dir.path.string(), board);
  ASSERT_TRUE(build.ok) << build.log;
  EXPECT_EQ(build.log.find("warning"), std::string::npos) << build.log;
  EXPECT_GT(build.text, 0);
  EXPECT_LT(build.flash_bytes(), 16 * 1024);  // start-up, printf, board support
  EXPECT_GE(build.bss, 8 * 1024);             // the stack
  EXPECT_LT(build.ram_bytes(), 9 * 1024);
  const std::string region = board.name == "stm32f412"   ? "STM32F412_SRAM"
                             : board.name == "stm32f746" ? "STM32F746_SRAM"
                                                         : "STM32H743_AXI_SRAM";
  EXPECT_NE(build.log.find(region), std::string::npos) << build.log;  // --print-memory-usage
}

INSTANTIATE_TEST_SUITE_P(Boards, FirmwareStm32, ::testing::Values("stm32f412", "stm32f746", "stm32h743"),
                         [](const auto& info) { return "S" + info.param.substr(1); });

// 400 KB of activations do not fit the F746's 320 KB of SRAM, 1.1 MB of weights not its 1 MB of Flash:
// the link fails and says which board's region overflowed.
TEST(FirmwareStm32F746, RejectsAFirmwareThatDoesNotFit) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  const Board& board = board_by_name("stm32f746");
  struct Case {
    const char* main_c;
    const char* region;
  };
  const Case cases[] = {
      {R"(#include <stdint.h>
#include "tn_board.h"
static int8_t arena[400 * 1024];
int main(void) {
  tn_board_init();
  volatile int8_t* p = arena;
  p[1234] = 1;
  return p[1234];
}
)",
       "STM32F746_SRAM"},
      {R"(#include <stdint.h>
#include "tn_board.h"
static const int8_t weights[1100 * 1024] = {1};
int main(void) {
  tn_board_init();
  volatile uint32_t i = 0;
  return weights[i];
}
)",
       "STM32F746_FLASH"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    make_bundle(dir, c.main_c);
    const BuildResult build = build_bundle(dir.path.string(), board);
    EXPECT_FALSE(build.ok);
    EXPECT_TRUE(build.does_not_fit()) << build.log;
    EXPECT_NE(lower(build.log).find("stm32f746"), std::string::npos) << build.log;
    const std::string summary = build.error_summary();
    EXPECT_NE(summary.find(std::string("region `") + c.region + "' overflowed by"), std::string::npos) << summary;
  }
}

#include <gtest/gtest.h>

#include "test_helpers.h"
#include "tinynas/core/units.h"
#include "tinynas/core/errors.h"

using tinynas::core::InputError;
using tinynas::core::parse_duration_ms;
using tinynas::core::parse_size;
namespace core = tinynas::core;

TEST(ParseSize, AcceptsEveryDocumentedSpelling) {
  EXPECT_EQ(core::parse_size("320K"), 320 * 1024);
  EXPECT_EQ(core::parse_size("320KB"), 320 * 1024);
  EXPECT_EQ(core::parse_size("320KiB"), 320 * 1024);
  EXPECT_EQ(core::parse_size("320kib"), 320 * 1024);
  EXPECT_EQ(core::parse_size("1M"), 1024 * 1024);
  EXPECT_EQ(core::parse_size("1.5MB"), 1536 * 1024);
  EXPECT_EQ(core::parse_size("2G"), 2LL * 1024 * 1024 * 1024);
  EXPECT_EQ(core::parse_size("4096"), 4096);
  EXPECT_EQ(core::parse_size("4096B"), 4096);
  EXPECT_EQ(core::parse_size(" 64 K "), 64 * 1024);
}

TEST(ParseSize, RejectsBadSizesWithTheFlagName) {
  for (const char* bad : {"", "K", "abc", "-1K", "0", "0K", "12X", "1.2.3M", "1KK", "0.3", "1e3"}) {
    try {
      core::parse_size(bad, "--sram");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--sram"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseDuration, MillisecondsAndSeconds) {
  EXPECT_EQ(core::parse_duration_ms("200ms"), 200.0);
  EXPECT_EQ(core::parse_duration_ms("200 ms"), 200.0);
  EXPECT_EQ(core::parse_duration_ms("200"), 200.0);
  EXPECT_EQ(core::parse_duration_ms("0.5s"), 500.0);
  EXPECT_EQ(core::parse_duration_ms("1.5 S"), 1500.0);
  for (const char* bad : {"", "fast", "200us", "-5ms", "0", "nan"})
    EXPECT_NE(tinynas_test::input_error_message([&] { core::parse_duration_ms(bad, "--latency"); }).find("--latency"),
              std::string::npos)
        << bad;
}

TEST(ParseEnergy, JoulesMillijoulesMicrojoules) {
  EXPECT_DOUBLE_EQ(core::parse_energy_uj("2mJ"), 2000.0);
  EXPECT_DOUBLE_EQ(core::parse_energy_uj("2 mJ"), 2000.0);
  EXPECT_DOUBLE_EQ(core::parse_energy_uj("2mj"), 2000.0);
  EXPECT_DOUBLE_EQ(core::parse_energy_uj("500uJ"), 500.0);
  EXPECT_DOUBLE_EQ(core::parse_energy_uj("500\u00b5J"), 500.0);
  EXPECT_DOUBLE_EQ(core::parse_energy_uj("0.002J"), 2000.0);
  EXPECT_DOUBLE_EQ(core::parse_energy_uj("1.5e-3 J"), 1500.0);
  // No unit (which one?), mega- or nano-joules, watts, nothing positive: errors naming the flag.
  for (const char* bad : {"", "2", "mJ", "2MJ", "2nJ", "2mW", "2 m", "-1mJ", "0uJ", "nanJ", "infJ", "2mJJ"})
    EXPECT_NE(tinynas_test::input_error_message([&] { core::parse_energy_uj(bad, "--energy"); }).find("--energy"),
              std::string::npos)
        << bad;
  EXPECT_EQ(core::format_energy_uj(812), "812.0 uJ");
  EXPECT_EQ(core::format_energy_uj(2150), "2.150 mJ");
  EXPECT_EQ(core::format_energy_uj(1.2e6), "1.200 J");
}

TEST(FormatSize, HumanUnits) {
  EXPECT_EQ(tinynas::core::format_size(812), "812 B");
  EXPECT_EQ(tinynas::core::format_size(320 * 1024), "320.0 KiB");
  EXPECT_EQ(tinynas::core::format_size(1024 * 1024), "1.00 MiB");
}

// 400 digits overflowed std::stod (out_of_range, exit 1); now they are a size too large.
TEST(ParseSize, HundredsOfDigitsAreTooLargeNotACrash) {
  const std::string digits(400, '9');
  EXPECT_NE(tinynas_test::input_error_message([&] { core::parse_size(digits, "--sram"); }).find("--sram"), std::string::npos);
  EXPECT_THROW(core::parse_size(digits + "G", "--sram"), InputError);
  EXPECT_THROW(core::parse_size("", "--sram"), InputError);
}

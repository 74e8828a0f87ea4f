#pragma once
// Human sizes at the edges of the program (CLI, reports); bytes everywhere inside. K = 1024.
#include <cstdint>
#include <string>

namespace tinynas::core {

// Parses "320K", "320KB", "320KiB", "1M", "1.5MB", "1G", "4096" (case-insensitive unit, K = 1024).
// Throws InputError naming `what` (e.g. "--sram") for anything else, zero or negative sizes included.
int64_t parse_size(const std::string& text, const std::string& what = "size");
// "200ms", "200 ms", "0.2s", "200" (milliseconds) -> 200. Throws InputError naming `what` otherwise.
double parse_duration_ms(const std::string& text, const std::string& what = "duration");
// Energy in microjoules: "2mJ", "2 mJ", "500uJ", "500µJ", "0.002J" -> 2000, 2000, 500, 500, 2000. The unit
// is required (a bare number could be any of them); its prefix is case-sensitive (m = milli, u or µ =
// micro), the J not. Throws InputError naming `what` otherwise, zero and negative energies included.
double parse_energy_uj(const std::string& text, const std::string& what = "energy");
// "812.0 uJ", "2.150 mJ", "1.200 J".
std::string format_energy_uj(double microjoules);
// "320 KiB", "1.00 MiB", "812 B".
std::string format_size(int64_t bytes);

}  // namespace tinynas::core

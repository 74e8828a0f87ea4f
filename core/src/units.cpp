#include "tinynas/core/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tinynas/core/errors.h"

namespace tinynas::core {

int64_t parse_size(const std::string& text, const std::string& what) {
  auto fail = [&]() {
    return InputError(what + ": '" + text +
                      "' is not a size; use bytes or a number with K, M or G (K = 1024), e.g. 320K, 1M, 1.5MB");
  };
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  const size_t num_begin = i;
  bool dot = false, digit = false;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !dot))) {
    dot |= text[i] == '.';
    digit |= text[i] != '.';
    ++i;
  }
  if (!digit) throw fail();
  // strtod, not stod: 400 digits are +inf (refused below as too large), not an out_of_range exception.
  const double value = std::strtod(text.substr(num_begin, i - num_begin).c_str(), nullptr);
  std::string unit;
  for (; i < text.size(); ++i)
    if (!std::isspace(static_cast<unsigned char>(text[i]))) unit += char(std::toupper(static_cast<unsigned char>(text[i])));
  double scale = 1;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else {
    const char prefix = unit[0];
    const std::string rest = unit.substr(1);
    if (rest != "" && rest != "B" && rest != "IB") throw fail();
    if (prefix == 'K') scale = 1024.0;
    else if (prefix == 'M') scale = 1024.0 * 1024.0;
    else if (prefix == 'G') scale = 1024.0 * 1024.0 * 1024.0;
    else throw fail();
  }
  const double bytes = value * scale;
  if (!(bytes >= 1.0) || bytes > 9.0e15) throw InputError(what + ": '" + text + "' must be a positive size");
  if (std::fabs(bytes - std::round(bytes)) > 1e-6) throw InputError(what + ": '" + text + "' is not a whole number of bytes");
  return int64_t(std::llround(bytes));
}

double parse_duration_ms(const std::string& text, const std::string& what) {
  const auto fail = [&]() {
    return InputError(what + ": '" + text + "' is not a duration; use milliseconds or seconds, e.g. 200ms, 0.5s");
  };
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw fail();
  }
  std::string unit;
  for (size_t i = used; i < text.size(); ++i)
    if (!std::isspace(static_cast<unsigned char>(text[i]))) unit += char(std::tolower(static_cast<unsigned char>(text[i])));
  double ms = 0;
  if (unit.empty() || unit == "ms") ms = value;
  else if (unit == "s") ms = value * 1000.0;
  else throw fail();
  if (!(ms > 0) || !std::isfinite(ms)) throw InputError(what + ": '" + text + "' must be a positive duration");
  return ms;
}

double parse_energy_uj(const std::string& text, const std::string& what) {
  const auto fail = [&]() {
    return InputError(what + ": '" + text + "' is not an energy; use J, mJ or uJ, e.g. 2mJ, 500uJ, 0.002J");
  };
  // strtod, not stod: it takes no locale-dependent exception path and stops before the unit.
  const char* begin = text.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  if (end == begin) throw fail();
  std::string unit;
  for (const char* c = end; *c; ++c)
    if (!std::isspace(static_cast<unsigned char>(*c))) unit += *c;
  if (unit.empty() || (unit.back() != 'J' && unit.back() != 'j')) throw fail();
  const std::string prefix = unit.substr(0, unit.size() - 1);
  double scale = 0;
  if (prefix.empty()) scale = 1e6;
  else if (prefix == "m") scale = 1e3;
  else if (prefix == "u" || prefix == "\u00b5" || prefix == "\u03bc") scale = 1;  // micro sign or Greek mu
  else throw fail();
  const double microjoules = value * scale;
  if (!(microjoules > 0) || !std::isfinite(microjoules)) throw InputError(what + ": '" + text + "' must be a positive energy");
  return microjoules;
}

std::string format_energy_uj(double microjoules) {
  char buf[64];
  if (microjoules < 1e3) std::snprintf(buf, sizeof buf, "%.1f uJ", microjoules);
  else if (microjoules < 1e6) std::snprintf(buf, sizeof buf, "%.3f mJ", microjoules / 1e3);
  else std::snprintf(buf, sizeof buf, "%.3f J", microjoules / 1e6);
  return buf;
}

std::string format_size(int64_t bytes) {
  char buf[64];
  if (bytes < 1024) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  else if (bytes < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

}  // namespace tinynas::core

#include "tinynas/core/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace tinynas::core {

namespace {
constexpr int64_t kRedrawNs = 200'000'000;  // at most five redraws per second

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}
}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_(std::chrono::steady_clock::now()),
      tty_(::isatty(STDERR_FILENO) && spdlog::default_logger()->should_log(spdlog::level::info)) {}

ProgressBar::~ProgressBar() { finish(); }

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::advance(int64_t n) {
  const int64_t done = done_.fetch_add(n, std::memory_order_relaxed) + n;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
  int64_t due = next_draw_ns_.load(std::memory_order_relaxed);
  if (now < due) return;
  if (!next_draw_ns_.compare_exchange_strong(due, now + kRedrawNs)) return;  // another thread draws
  std::unique_lock<std::mutex> lock(draw_mutex_, std::try_to_lock);
  if (lock.owns_lock()) draw(done, false);
}

void ProgressBar::set_status(std::string status) {
  std::lock_guard<std::mutex> lock(draw_mutex_);
  status_ = std::move(status);
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(draw_mutex_);
  if (finished_) return;
  finished_ = true;
  draw(done_.load(), true);
}

void ProgressBar::draw(int64_t done, bool final_line) {
  if (finished_ && !final_line) return;
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double frac = total_ > 0 ? double(done) / total_ : 1.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  char stats[320];
  // Slow loops (a few steps per second) keep one decimal, so the rate never reads 0.
  std::snprintf(stats, sizeof stats, "%lld/%lld %3.0f%% %.*f %s/s %s %s%s%s", static_cast<long long>(done),
                static_cast<long long>(total_), 100 * frac, rate < 10 ? 1 : 0, rate, unit_.c_str(), final_line ? "in" : "ETA",
                format_duration(final_line ? elapsed : eta).c_str(), status_.empty() ? "" : " ", status_.c_str());
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = int(frac * kWidth + 0.5);
    std::string bar(size_t(filled), '#');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r%s [%s] %s\x1b[K%s", label_.c_str(), bar.c_str(), stats, final_line ? "\n" : "");
    std::fflush(stderr);
  } else {
    const int decile = int(frac * 10);
    if (final_line || decile > last_decile_) {
      last_decile_ = decile;
      spdlog::info("{}: {}", label_, stats);
    }
  }
}

}  // namespace tinynas::core

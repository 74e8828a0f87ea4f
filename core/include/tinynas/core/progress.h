#pragma once
// A progress bar with rate and ETA for long loops, safe to advance from many threads. On a
// terminal it redraws one line; otherwise (batch jobs, CI) it logs a line every 10 %.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace tinynas::core {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, std::string unit = "it");
  ~ProgressBar();
  void advance(int64_t n = 1);
  // Extra text shown after the rate and ETA (a running loss, say); thread-safe.
  void set_status(std::string status);
  // Draws the final state; called by the destructor if not before.
  void finish();
  double elapsed_seconds() const;

 private:
  void draw(int64_t done, bool final_line);

  std::string label_, unit_, status_;
  int64_t total_;
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> next_draw_ns_{0};
  std::chrono::steady_clock::time_point start_;
  std::mutex draw_mutex_;
  bool tty_;
  int last_decile_ = -1;
  bool finished_ = false;
};

}  // namespace tinynas::core

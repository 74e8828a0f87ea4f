#include "tinynas/core/stop_signal.h"

#include <csignal>
#include <cstring>
#include <unistd.h>

namespace tinynas::core {

namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int number) {
  if (g_signal == SIGTERM && number == SIGTERM) _exit(128 + SIGTERM);  // asked twice: stop now
  g_signal = number;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking reads and waits carry on; the flag is polled
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool stop_requested() { return g_signal != 0; }

std::string stop_signal_name() {
  switch (g_signal) {
    case 0: return "";
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGINT: return "SIGINT";
    default: return "signal " + std::to_string(int(g_signal));
  }
}

void request_stop(int signal_number) { g_signal = signal_number; }

}  // namespace tinynas::core

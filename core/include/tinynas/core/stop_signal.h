#pragma once
// A graceful stop on SIGTERM or SIGUSR1 (what Slurm sends before a time limit or a preemption): long
// jobs poll stop_requested() at safe points (after a training step, a generation), write their
// checkpoint and throw Interrupted, so that the same command with --resume continues where they stopped.
#include <stdexcept>
#include <string>

namespace tinynas::core {

// Exit code of a run that stopped on a signal after writing its checkpoint (the batch scripts requeue it).
constexpr int kInterruptedExitCode = 3;

class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Installs the handlers (idempotent); the first signal only sets the flag, so the run stops at its next
// safe point. A second SIGTERM ends the process at once.
void install_stop_handlers();
bool stop_requested();
// The flag's name for logs ("SIGUSR1"), or "" when no signal came.
std::string stop_signal_name();
// Sets the flag as a signal would (for tests, and for stops agreed between MPI ranks).
void request_stop(int signal_number);

}  // namespace tinynas::core

#include "train/interrupt.h"

#include <atomic>
#include <csignal>

namespace bnlab::train {
namespace {

std::atomic<bool> interrupted{false};

// SIGTERM (a scheduler's or `kill`'s polite stop) is treated as Ctrl-C: the
// run stops after the current step and records itself as interrupted.
extern "C" void on_stop_signal(int signal_number) {
  if (interrupted.exchange(true)) {
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
  }
}

}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}
bool interrupt_requested() { return interrupted.load(std::memory_order_relaxed); }
void clear_interrupt() { interrupted = false; }

}  // namespace bnlab::train

#include "train/interrupt.h"

#include <atomic>
#include <csignal>

namespace bnlab::train {
namespace {

std::atomic<bool> interrupted{false};

extern "C" void on_sigint(int) {
  if (interrupted.exchange(true)) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

}  // namespace

void install_interrupt_handler() { std::signal(SIGINT, on_sigint); }
bool interrupt_requested() { return interrupted.load(std::memory_order_relaxed); }
void clear_interrupt() { interrupted = false; }

}  // namespace bnlab::train

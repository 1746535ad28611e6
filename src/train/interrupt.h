#pragma once

namespace bnlab::train {

// Ctrl-C (and SIGTERM) handling for long runs: the first signal only raises a
// flag, which the training loop polls once per step so it can finish writing
// what it has; a second one terminates at once.
void install_interrupt_handler();
bool interrupt_requested();
void clear_interrupt();

}  // namespace bnlab::train

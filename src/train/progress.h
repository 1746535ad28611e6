#pragma once
#include <cstdint>
#include <ostream>

#include "train/trainer.h"

namespace bnlab::train {

// Keras-like console output. On a terminal: "Epoch 3/10" and a live bar
// (steps, elapsed time, ms/step, running loss and accuracy) redrawn about
// ten times a second. Elsewhere (logs, CI): one summary line per epoch.
class ConsoleProgress {
 public:
  ConsoleProgress(std::ostream& out, bool live, int64_t epochs);
  void set_epochs(int64_t epochs) { epochs_ = epochs; }
  void epoch_begin(int64_t epoch, int64_t steps);
  bool due(double elapsed_seconds) const;  // time for a redraw?
  void running(int64_t step, double elapsed_seconds, double loss, double accuracy);
  void epoch_end(const EpochMetrics& metrics);

  // True when stdout is a terminal.
  static bool stdout_is_terminal();

 private:
  std::ostream& out_;
  bool live_;
  int64_t epochs_;
  int64_t steps_ = 0;
  double last_draw_ = -1;
};

}  // namespace bnlab::train

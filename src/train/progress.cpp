#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace bnlab::train {
namespace {

constexpr int kBarWidth = 30;
constexpr double kRedrawSeconds = 0.1;

std::string bar(int64_t step, int64_t steps) {
  const int filled = steps ? static_cast<int>(kBarWidth * step / steps) : kBarWidth;
  if (filled >= kBarWidth) return std::string(kBarWidth, '=');
  return std::string(filled, '=') + ">" + std::string(kBarWidth - filled - 1, '.');
}

}  // namespace

ConsoleProgress::ConsoleProgress(std::ostream& out, bool live, int64_t epochs)
    : out_(out), live_(live), epochs_(epochs) {}

bool ConsoleProgress::stdout_is_terminal() { return isatty(fileno(stdout)) != 0; }

void ConsoleProgress::epoch_begin(int64_t epoch, int64_t steps) {
  steps_ = steps;
  last_draw_ = -1;
  if (live_) out_ << fmt::format("Epoch {}/{}\n", epoch, epochs_) << std::flush;
}

bool ConsoleProgress::due(double elapsed_seconds) const {
  return live_ && elapsed_seconds - last_draw_ >= kRedrawSeconds;
}

void ConsoleProgress::running(int64_t step, double elapsed_seconds, double loss, double accuracy) {
  last_draw_ = elapsed_seconds;
  out_ << fmt::format("\r{:>{}}/{} [{}] - {:.0f}s {:.2f}ms/step - loss: {:.4f} - accuracy: {:.4f}", step,
                      std::to_string(steps_).size(), steps_, bar(step, steps_), elapsed_seconds,
                      1e3 * elapsed_seconds / step, loss, accuracy)
       << std::flush;
}

void ConsoleProgress::epoch_end(const EpochMetrics& m) {
  const std::string metrics =
      fmt::format("{:.1f}s {:.3f}ms/step - loss: {:.4f} - accuracy: {:.4f} - val_loss: {:.4f} - val_accuracy: {:.4f}",
                  m.epoch_seconds, m.ms_per_step, m.loss, m.accuracy, m.val_loss, m.val_accuracy);
  if (live_)
    out_ << fmt::format("\r{}/{} [{}] - {}\x1b[K\n", m.steps, steps_, bar(m.steps, steps_), metrics);
  else
    out_ << fmt::format("Epoch {}/{} - {} steps - {}\n", m.epoch, epochs_, m.steps, metrics);
  out_ << std::flush;
}

}  // namespace bnlab::train

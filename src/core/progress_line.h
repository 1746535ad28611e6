#pragma once
// Progress of long work (`bnlab data fetch`, `bnlab bench`) on a terminal,
// and nothing in logs: one line on stderr, redrawn in place five times a
// second while an item runs ("[2/6] bench bn (256,32,26,26): 12 s; about
// 1 min left"), erased when the work ends. Text the work prints meanwhile
// goes through log(), which lifts the line out of the way first, so the two
// never mix. Not on a terminal, log() is the given stream and no line is drawn.
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace bnlab {

class ProgressLine {
 public:
  // live: draw (stderr is a terminal: stderr_is_terminal()). `total` items.
  ProgressLine(std::ostream& log, bool live, size_t total);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Item `index` (0-based) starts (and the one running, if any, ends); the
  // time left is estimated from the durations of the items finished before it.
  void begin(size_t index, const std::string& what);
  // When the count is known only once the work starts (0 at construction).
  void set_total(size_t total) {
    std::lock_guard<std::mutex> lock(mutex_);
    total_ = total;
  }
  // Where the work's own lines go while the line is shown.
  std::ostream& log() { return *log_; }

  static bool stderr_is_terminal();

 private:
  class LiftingBuffer;
  void draw_locked();
  void erase_locked();
  void tick();

  std::ostream& out_;
  bool live_;
  size_t total_, index_ = 0;
  std::string what_;
  double started_ = -1;  // seconds, steady clock; < 0: no item running
  std::vector<double> finished_;
  bool drawn_ = false, stopping_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::unique_ptr<LiftingBuffer> buffer_;
  std::unique_ptr<std::ostream> lifting_;
  std::ostream* log_;
  std::thread ticker_;
};

// "45 s", "14 min", "2 h 05 min".
std::string duration_text(double seconds);

// "; about 14 min left" from the mean duration of `finished` items times the
// items left (`remaining`, the running one included); "" before any finished.
std::string time_left_text(const std::vector<double>& finished, size_t remaining);

}  // namespace bnlab

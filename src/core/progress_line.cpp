#include "core/progress_line.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace bnlab {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr const char* kEraseLine = "\r\033[K";

}  // namespace

// Forwards to the log stream, erasing the progress line before the first
// character of each line of text (the ticker draws it again after the newline).
class ProgressLine::LiftingBuffer : public std::streambuf {
 public:
  explicit LiftingBuffer(ProgressLine& line) : line_(line) {}

 protected:
  int overflow(int c) override {
    if (c == EOF) return 0;
    std::lock_guard<std::mutex> lock(line_.mutex_);
    line_.erase_locked();
    line_.out_.put(static_cast<char>(c));
    if (c == '\n') line_.out_.flush();
    return c;
  }
  std::streamsize xsputn(const char* text, std::streamsize count) override {
    std::lock_guard<std::mutex> lock(line_.mutex_);
    line_.erase_locked();
    line_.out_.write(text, count);
    line_.out_.flush();
    return count;
  }

 private:
  ProgressLine& line_;
};

ProgressLine::ProgressLine(std::ostream& log, bool live, size_t total)
    : out_(log), live_(live), total_(total), log_(&log) {
  if (!live_) return;
  buffer_ = std::make_unique<LiftingBuffer>(*this);
  lifting_ = std::make_unique<std::ostream>(buffer_.get());
  log_ = lifting_.get();
  ticker_ = std::thread([this] { tick(); });
}

ProgressLine::~ProgressLine() {
  if (!live_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    erase_locked();
  }
  wake_.notify_all();
  ticker_.join();
}

void ProgressLine::begin(size_t index, const std::string& what) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (started_ >= 0) finished_.push_back(now_seconds() - started_);
  index_ = index;
  what_ = what;
  started_ = now_seconds();
  if (live_) draw_locked();
}

bool ProgressLine::stderr_is_terminal() { return isatty(fileno(stderr)) != 0; }

void ProgressLine::draw_locked() {
  if (started_ < 0) return;
  const std::string text =
      fmt::format("[{}/{}] {}: {}{}", index_ + 1, total_, what_, duration_text(now_seconds() - started_),
                  time_left_text(finished_, total_ - index_));
  std::fputs(kEraseLine, stderr);
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::erase_locked() {
  if (!drawn_) return;
  std::fputs(kEraseLine, stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void ProgressLine::tick() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(200));
    if (!stopping_) draw_locked();
  }
}

std::string duration_text(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f} s", seconds);
  const auto minutes = int64_t(std::lround(seconds / 60));
  if (minutes < 90) return fmt::format("{} min", minutes);
  return fmt::format("{} h {:02} min", minutes / 60, minutes % 60);
}

std::string time_left_text(const std::vector<double>& finished, size_t remaining) {
  if (finished.empty()) return "";
  const double mean = std::accumulate(finished.begin(), finished.end(), 0.0) / double(finished.size());
  return fmt::format("; about {} left", duration_text(mean * double(remaining)));
}

}  // namespace bnlab

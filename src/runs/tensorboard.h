#pragma once
// TensorBoard event files (events.out.tfevents.*) beside metrics.csv, so that
// `tensorboard --logdir results/` shows a run's curves. Each record is a
// tensorboard.Event (proto/event.proto, built with libprotobuf) framed as
// TFRecord: uint64 length, masked CRC32C of the length, the bytes, masked
// CRC32C of the bytes (all little-endian). Records are appended whole or not
// at all (AppendFile), so a killed run leaves a readable file.
//
// The x axis of every series is the global optimiser step, so one axis
// serves epochs, step evaluations and BatchNorm statistics, and a resumed
// run can tell TensorBoard to drop what its interrupted attempt logged after
// the checkpoint (session_start).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runs/layout.h"

namespace bnlab::runs {

class EventWriter {
 public:
  // Creates `path` (it must not exist) holding the file_version record.
  explicit EventWriter(const std::filesystem::path& path);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One record with every (tag, value) as a scalar at `step`; non-finite
  // values are written as they are (TensorBoard shows NaN as such).
  void scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // One record with a histogram per (tag, values); non-finite values are left out.
  void histograms(int64_t step, const std::vector<std::pair<std::string, std::vector<double>>>& values);
  // A SessionLog START at `step`: TensorBoard discards the steps >= `step`
  // that earlier files of the folder logged.
  void session_start(int64_t step);
  // Makes what was appended durable.
  void sync();
  const std::filesystem::path& path() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A new event file for a run folder: events.out.tfevents.<unix seconds>.<host>.<pid>.<sequence>.
std::unique_ptr<EventWriter> open_event_file(const RunFiles& files);

}  // namespace bnlab::runs

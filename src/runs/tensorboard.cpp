#include "runs/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <optional>

#include "core/durable_file.h"
#include "runs/proto/event.pb.h"

namespace bnlab::runs {
namespace {

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), a byte at a time
// through a 256-entry table.
const std::array<uint32_t, 256>& crc32c_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t byte = 0; byte < 256; ++byte) {
      uint32_t crc = byte;
      for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (crc & 1 ? 0x82F63B78u : 0u);
      t[byte] = crc;
    }
    return t;
  }();
  return table;
}

uint32_t crc32c(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) crc = crc32c_table()[(crc ^ c) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// TFRecord's masking: rotate right by 15, add a constant (so that a CRC of
// data holding CRCs stays well spread).
uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

template <typename Int>
void append_little_endian(std::string& out, Int value) {
  for (size_t i = 0; i < sizeof(Int); ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

std::string framed(const std::string& data) {
  std::string length;
  append_little_endian(length, static_cast<uint64_t>(data.size()));
  std::string record = length;
  append_little_endian(record, masked_crc32c(length));
  record += data;
  append_little_endian(record, masked_crc32c(data));
  return record;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

tensorboard::Event event_at(int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  return event;
}

// Equal-width buckets over [min, max] (one bucket when they are equal).
void fill_histogram(const std::vector<double>& all, tensorboard::HistogramProto& histogram) {
  std::vector<double> values;
  std::copy_if(all.begin(), all.end(), std::back_inserter(values), [](double v) { return std::isfinite(v); });
  if (values.empty()) return;
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  const double min = *low, max = *high;
  constexpr int kBuckets = 30;
  const int buckets = max > min ? kBuckets : 1;
  std::vector<double> counts(buckets, 0.0);
  double sum = 0, sum_squares = 0;
  for (double v : values) {
    const int bucket = max > min ? std::min(buckets - 1, static_cast<int>((v - min) / (max - min) * buckets)) : 0;
    counts[bucket] += 1;
    sum += v;
    sum_squares += v * v;
  }
  histogram.set_min(min);
  histogram.set_max(max);
  histogram.set_num(static_cast<double>(values.size()));
  histogram.set_sum(sum);
  histogram.set_sum_squares(sum_squares);
  for (int b = 0; b < buckets; ++b) {
    histogram.add_bucket_limit(b + 1 == buckets ? max : min + (max - min) * (b + 1) / buckets);
    histogram.add_bucket(counts[b]);
  }
}

}  // namespace

struct EventWriter::State {
  std::optional<AppendFile> file;
  void append(const tensorboard::Event& event) { file->append(framed(event.SerializeAsString())); }
};

EventWriter::EventWriter(const std::filesystem::path& path) : state_(std::make_unique<State>()) {
  if (std::filesystem::exists(path)) throw WriteError(path.string() + ": exists; an event file is written once");
  auto first = event_at(0);
  first.set_file_version("brain.Event:2");
  write_file_atomically(path, framed(first.SerializeAsString()));
  state_->file.emplace(path);
}

EventWriter::~EventWriter() = default;

void EventWriter::scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  auto event = event_at(step);
  for (const auto& [tag, value] : values) {
    auto* entry = event.mutable_summary()->add_value();
    entry->set_tag(tag);
    entry->set_simple_value(static_cast<float>(value));
  }
  state_->append(event);
}

void EventWriter::histograms(int64_t step, const std::vector<std::pair<std::string, std::vector<double>>>& values) {
  auto event = event_at(step);
  for (const auto& [tag, samples] : values) {
    auto* entry = event.mutable_summary()->add_value();
    entry->set_tag(tag);
    fill_histogram(samples, *entry->mutable_histo());
  }
  state_->append(event);
}

void EventWriter::session_start(int64_t step) {
  auto event = event_at(step);
  event.mutable_session_log()->set_status(tensorboard::SessionLog::START);
  state_->append(event);
}

void EventWriter::sync() { state_->file->sync(); }

const std::filesystem::path& EventWriter::path() const { return state_->file->path(); }

std::unique_ptr<EventWriter> open_event_file(const RunFiles& files) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof(host), "localhost");
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  int sequence = 0;
  while (std::filesystem::exists(files.tensorboard_events(seconds, host, getpid(), sequence))) ++sequence;
  return std::make_unique<EventWriter>(files.tensorboard_events(seconds, host, getpid(), sequence));
}

}  // namespace bnlab::runs

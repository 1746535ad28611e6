#include "train/checkpoint.h"

#include <fmt/format.h>

#include <sstream>
#include <stdexcept>

#include "core/durable_file.h"
#include "core/zip_integrity.h"
#include "train/rng_state.h"

namespace bnlab::train {
namespace fs = std::filesystem;
namespace {

// Serialised in memory, then written by the one durable writer: LibTorch's
// own file writer neither syncs nor names the OS reason of a failure.
void write_atomically(torch::serialize::OutputArchive& archive, const fs::path& path) {
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const c10::Error& error) {
    throw WriteError(fmt::format("{}: cannot serialise: {}", path.string(), error.what_without_backtrace()));
  }
  write_file_atomically(path, bytes.str());
}

torch::serialize::InputArchive open_archive(const fs::path& path) {
  if (!fs::exists(path)) throw std::runtime_error(fmt::format("{}: no such checkpoint", path.string()));
  const std::string bytes = read_whole_file(path);
  // Every record checked against its CRC-32 first: LibTorch does not, and
  // its parsers can crash on a damaged record (core/zip_integrity.h).
  try {
    check_zip_integrity(bytes);
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(fmt::format("{}: not a readable checkpoint (damaged: {})", path.string(), error.what()));
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(bytes.data(), bytes.size());
  } catch (const c10::Error& error) {
    throw std::runtime_error(fmt::format("{}: not a readable checkpoint ({})", path.string(), error.what_without_backtrace()));
  }
  return archive;
}

int64_t read_int(torch::serialize::InputArchive& archive, const char* key) {
  torch::Tensor value;
  archive.read(key, value);
  return value.item<int64_t>();
}

CheckpointPosition read_position(torch::serialize::InputArchive& archive) {
  CheckpointPosition position;
  position.stage = read_int(archive, "stage");
  position.epoch = read_int(archive, "epoch");
  position.global_step = read_int(archive, "global_step");
  position.metrics_rows = read_int(archive, "metrics_rows");
  torch::Tensor best;
  archive.read("best_val_accuracy", best);
  position.best_val_accuracy = best.item<double>();
  return position;
}

}  // namespace

void save_checkpoint(const fs::path& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const CheckpointPosition& position) {
  torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
  model.save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("stage", torch::tensor(position.stage));
  archive.write("epoch", torch::tensor(position.epoch));
  archive.write("global_step", torch::tensor(position.global_step));
  archive.write("metrics_rows", torch::tensor(position.metrics_rows));
  archive.write("best_val_accuracy", torch::tensor(position.best_val_accuracy, torch::kFloat64));
  // Dropout masks come from the global generator: resuming must continue its stream.
  archive.write("rng", cpu_rng_state());
  write_atomically(archive, path);
}

CheckpointPosition load_checkpoint(const fs::path& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  auto archive = open_archive(path);
  torch::serialize::InputArchive model_archive, optimizer_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  model.load(model_archive);
  optimizer.load(optimizer_archive);
  const CheckpointPosition position = read_position(archive);
  torch::Tensor rng;
  archive.read("rng", rng);
  restore_cpu_rng_state(rng);
  return position;
}

CheckpointPosition read_checkpoint_position(const fs::path& path) {
  auto archive = open_archive(path);
  return read_position(archive);
}

void save_model(const fs::path& path, torch::nn::Module& model) {
  torch::serialize::OutputArchive archive;
  model.save(archive);
  write_atomically(archive, path);
}

void load_model(const fs::path& path, torch::nn::Module& model) {
  auto archive = open_archive(path);
  model.load(archive);
}

}  // namespace bnlab::train

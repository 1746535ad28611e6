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

torch::serialize::InputArchive open_archive(const std::string& bytes, const std::string& name) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(bytes.data(), bytes.size());
  } catch (const c10::Error& error) {
    throw std::runtime_error(fmt::format("{}: not a readable checkpoint ({})", name, error.what_without_backtrace()));
  }
  return archive;
}

// The file's bytes, every record checked against its CRC-32 first: LibTorch
// does not, and its parsers can crash on a damaged record (core/zip_integrity.h).
std::string checked_bytes(const fs::path& path) {
  if (!fs::exists(path)) throw std::runtime_error(fmt::format("{}: no such checkpoint", path.string()));
  std::string bytes = read_whole_file(path);
  try {
    check_zip_integrity(bytes);
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(fmt::format("{}: not a readable checkpoint (damaged: {})", path.string(), error.what()));
  }
  return bytes;
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
  torch::Tensor world_size;  // absent from checkpoints of one-process runs before jobs had them
  position.world_size = archive.try_read("world_size", world_size) ? world_size.item<int64_t>() : 1;
  return position;
}

}  // namespace

void save_checkpoint(const fs::path& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const CheckpointPosition& position, const torch::Tensor& rng_states) {
  TORCH_CHECK(rng_states.dim() == 2 && rng_states.size(0) == position.world_size,
              "save_checkpoint: one generator state per rank expected, got ", rng_states.sizes(), " for ",
              position.world_size, " rank(s)");
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
  archive.write("world_size", torch::tensor(position.world_size));
  // Dropout masks come from each rank's global generator: resuming must continue its stream.
  archive.write("rng", rng_states);
  write_atomically(archive, path);
}

CheckpointFile read_checkpoint_file(const fs::path& path) { return {path.string(), checked_bytes(path)}; }

CheckpointPosition load_checkpoint(const CheckpointFile& file, torch::nn::Module& model,
                                   torch::optim::Optimizer& optimizer, int rank, int world_size) {
  auto archive = open_archive(file.bytes, file.name);
  const CheckpointPosition position = read_position(archive);
  check_world_size(position, file, world_size);
  torch::serialize::InputArchive model_archive, optimizer_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  model.load(model_archive);
  optimizer.load(optimizer_archive);
  torch::Tensor rng;  // (world_size, S); (S,) in checkpoints of one-process runs before jobs had them
  archive.read("rng", rng);
  restore_cpu_rng_state(rng.dim() == 1 ? rng : rng[rank]);
  return position;
}

void check_world_size(const CheckpointPosition& position, const CheckpointFile& file, int world_size) {
  if (position.world_size != world_size)
    throw std::invalid_argument(fmt::format("{}: written by a job of {} rank(s); resume it with as many (this job: {})",
                                            file.name, position.world_size, world_size));
}

CheckpointPosition read_checkpoint_position(const CheckpointFile& file) {
  auto archive = open_archive(file.bytes, file.name);
  return read_position(archive);
}

void save_model(const fs::path& path, torch::nn::Module& model) {
  torch::serialize::OutputArchive archive;
  model.save(archive);
  write_atomically(archive, path);
}

void load_model(const fs::path& path, torch::nn::Module& model) {
  auto archive = open_archive(checked_bytes(path), path.string());
  model.load(archive);
}

}  // namespace bnlab::train

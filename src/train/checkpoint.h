#pragma once
// Checkpoints: model and optimiser state plus where the run was (stage,
// epoch, global step, random state), so an interrupted run resumes to the
// same metrics as an uninterrupted one. Written with torch::save's archive
// format, atomically (temporary file, then rename).
//
// In a data-parallel job the replicas are equal at an epoch's end (checked),
// so rank 0 writes the one checkpoint, with every rank's random generator
// state in it; on resume rank 0 reads the file and hands its bytes to the
// other ranks (parallel::run_on_root), so no rank can load another file.
#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace bnlab::train {

struct CheckpointPosition {
  int64_t stage = 0;        // index into the run's stages
  int64_t epoch = 0;        // last completed epoch of that stage
  int64_t global_step = 0;  // optimiser steps over the whole run
  int64_t metrics_rows = 0; // metrics.csv data rows written so far
  double best_val_accuracy = 0;
  int64_t world_size = 1;  // ranks of the job that wrote it (a resume needs as many)
};

// A checkpoint's bytes as read from `name`, every zip record's CRC-32
// checked, not yet parsed: what rank 0 reads and the other ranks receive.
struct CheckpointFile {
  std::string name;  // for messages: the path rank 0 read
  std::string bytes;
};
CheckpointFile read_checkpoint_file(const std::filesystem::path& path);

// rng_states: (position.world_size, S) uint8, every rank's global CPU
// generator state in rank order (cpu_rng_state() of each).
void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const CheckpointPosition& position, const torch::Tensor& rng_states);

// Restores model, optimiser and rank `rank`'s global random generator;
// returns the position. Throws std::invalid_argument when the checkpoint was
// written by a job of another size than `world_size` (its ranks' random
// streams and shards would not match this job's).
CheckpointPosition load_checkpoint(const CheckpointFile& file, torch::nn::Module& model,
                                   torch::optim::Optimizer& optimizer, int rank = 0, int world_size = 1);

// Throws std::invalid_argument naming the checkpoint and both sizes when
// `position` was written by a job of another size than `world_size`.
void check_world_size(const CheckpointPosition& position, const CheckpointFile& file, int world_size);

// Where a checkpoint was taken, without loading any state (a resumed run
// rewinds its files and rebuilds that stage's model first).
CheckpointPosition read_checkpoint_position(const CheckpointFile& file);

// The model alone (the hand-over between stages).
void save_model(const std::filesystem::path& path, torch::nn::Module& model);
void load_model(const std::filesystem::path& path, torch::nn::Module& model);

}  // namespace bnlab::train

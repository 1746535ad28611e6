#pragma once
// Checkpoints: model and optimiser state plus where the run was (stage,
// epoch, global step, random state), so an interrupted run resumes to the
// same metrics as an uninterrupted one. Written with torch::save's archive
// format, atomically (temporary file, then rename).
#include <torch/torch.h>

#include <filesystem>

namespace bnlab::train {

struct CheckpointPosition {
  int64_t stage = 0;        // index into the run's stages
  int64_t epoch = 0;        // last completed epoch of that stage
  int64_t global_step = 0;  // optimiser steps over the whole run
  int64_t metrics_rows = 0; // metrics.csv data rows written so far
  double best_val_accuracy = 0;
};

void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                     torch::optim::Optimizer& optimizer, const CheckpointPosition& position);

// Restores model, optimiser and the global random generator; returns the position.
CheckpointPosition load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                                   torch::optim::Optimizer& optimizer);

// Where a checkpoint was taken, without loading any state (a resumed run
// rewinds its files and rebuilds that stage's model first).
CheckpointPosition read_checkpoint_position(const std::filesystem::path& path);

// The model alone (the hand-over between stages).
void save_model(const std::filesystem::path& path, torch::nn::Module& model);
void load_model(const std::filesystem::path& path, torch::nn::Module& model);

}  // namespace bnlab::train

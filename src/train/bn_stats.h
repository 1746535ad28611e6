#pragma once
// BatchNorm internals over training (log.bn_stats_every = K): every K steps,
// per hidden block, the batch statistics BN normalises with, its running
// statistics, gamma and beta (averages and spread over channels), the
// 15/50/85th percentiles of one fixed unit's input to the nonlinearity (the
// figure of Ioffe & Szegedy), and the gap between the BN layer's train-mode
// and eval-mode outputs on the same input. Rows go to bn_stats.csv
// (columns: runs::bn_stats_columns). A BatchNorm layer with its ReLU fused
// is observed as BN followed by a ReLU, so logging never changes the model.
//
// The probe is a forward pass of its own on the step's batch; BN buffers and
// the random generator are restored afterwards, so logging never changes
// the training it observes.
//
// In a data-parallel job every rank runs the probe (sync BatchNorm's forward
// is a collective) on its shard and rank 0 writes the rows: the statistics
// are rank 0's, except the batch mean and variance, which are those BN
// normalises with: over the global batch with sync BN (gathered from every
// rank), over rank 0's shard with per-rank BN.
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "data/dataset.h"
#include "parallel/group.h"
#include "runs/csv_writer.h"
#include "runs/metrics.h"
#include "runs/tensorboard.h"

namespace bnlab::train {

class BnStatsLogger {
 public:
  // csv: null on the ranks of a job that do not write (all but rank 0).
  BnStatsLogger(const std::filesystem::path* csv, int64_t every, bool append = false);
  bool due(int64_t global_step) const { return global_step % every_ == 0; }
  // `events`, when given, also gets the per-channel values as histograms
  // ("bn/block<K>/batch_mean", ..., and the fixed unit's inputs).
  // `batch_group`: the ranks whose shards make up BN's batch (sync BN in a
  // job: a collective), else null.
  void log(torch::nn::Sequential& model, int64_t global_step, int64_t epoch, const data::Batch& batch,
           runs::EventWriter* events = nullptr, const parallel::Group* batch_group = nullptr);
  void sync() {
    if (csv_) csv_->sync();
  }

 private:
  std::optional<runs::CsvWriter> csv_;
  int64_t every_;
};

}  // namespace bnlab::train

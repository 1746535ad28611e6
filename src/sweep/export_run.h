#pragma once
// `bnlab export RUN_DIR -o FILE.pth`: a finished run's model as a state_dict
// that PyTorch-Python's torch.load reads (LibTorch's pickle serialisation of
// a dict of tensors), keyed as the torch.nn.Sequential that
// scripts/bnlab_torch.py builds for the run's config (docs/export.md).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace bnlab::sweep {

struct ExportRunOptions {
  std::filesystem::path run_dir;
  std::filesystem::path output;  // FILE.pth
  bool overwrite = false;        // replace an existing FILE.pth
};

struct ExportRunReport {
  std::vector<std::string> keys;     // the state_dict's keys, in module order
  std::vector<std::string> dropped;  // state without a PyTorch counterpart, with why
  int64_t values = 0;                // elements over all tensors
  int64_t bytes = 0;                 // of the file
  std::filesystem::path written;
};

// Throws InputError for a folder that is not a completed run, or an output
// that exists without `overwrite`; WriteError when the file cannot be
// written (nothing is left behind: the write is atomic).
ExportRunReport export_run(const ExportRunOptions& options);

}  // namespace bnlab::sweep

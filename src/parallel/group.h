#pragma once
// A process group: the ranks of one data-parallel job and the collectives
// they run together, on PyTorch's own distributed engine (c10d::TCPStore for
// the rendezvous, c10d::ProcessGroupGloo for the collectives). A job of one
// process is a Group too, whose collectives do nothing, so the training code
// has one path whatever the world size.
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bnlab::parallel {

// Where and as whom to join. Flags win over the environment variables that
// torchrun and `bnlab launch` set (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT).
struct GroupOptions {
  int world_size = 1;
  int rank = 0;
  std::string master_addr = "127.0.0.1";  // the host of rank 0, which serves the store
  int master_port = 29500;
  // How long to wait for the other ranks to join, and for any collective to
  // complete, before failing with an error naming the step that timed out.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  // The rendezvous store. By default rank 0 serves a c10d::TCPStore on
  // master_port, which LibTorch 1.13 binds on every interface (it has no bind
  // address). Instead:
  //  - store_file (BNLAB_STORE_FILE, set by `bnlab launch`): a c10d::FileStore
  //    in a private folder, for jobs on one host: no socket at all;
  //  - agent_store_attempt (torchrun: TORCHELASTIC_USE_AGENT_STORE=True): the
  //    store torchrun's agent serves on MASTER_ADDR:MASTER_PORT, every rank a
  //    client, keys under "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>" as
  //    PyTorch's env:// rendezvous does.
  std::string store_file;
  std::optional<int> agent_store_attempt;
};

// "store 127.0.0.1:29500", "store file /tmp/...", "torchrun's store host:port (attempt 0)".
std::string rendezvous_text(const GroupOptions& options);

// Fills what `flags` leaves unset from the environment (the timeout from
// BNLAB_DIST_TIMEOUT, which `bnlab launch --dist-timeout` sets), then validates
// (world size >= 1, 0 <= rank < world size, port in 1..65535, timeout > 0).
// Throws std::invalid_argument naming the flag or variable and the value.
struct GroupFlags {
  std::optional<int> world_size, rank, master_port;
  std::optional<std::string> master_addr;
  std::optional<double> timeout_seconds;
};
GroupOptions resolve_group_options(const GroupFlags& flags);

// A collective failed or timed out, or the group could not be formed.
class DistError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Group {
 public:
  // Joins (world size > 1: blocks until every rank has joined or the timeout
  // passes) or makes the one-process group.
  static std::shared_ptr<Group> join(const GroupOptions& options);
  static std::shared_ptr<Group> solo();
  ~Group();

  int rank() const { return options_.rank; }
  int size() const { return options_.world_size; }
  bool is_root() const { return options_.rank == 0; }
  const GroupOptions& options() const { return options_; }

  // In place: every tensor becomes the element-wise sum over the ranks.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors) const;
  void all_reduce_sum(torch::Tensor& tensor) const;
  // In place: every rank's tensors become root's.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0) const;
  // Every rank's `tensor` (same shape and dtype everywhere), stacked in rank
  // order: (world_size, *tensor.sizes()).
  torch::Tensor all_gather(const torch::Tensor& tensor) const;
  void barrier() const;

 private:
  struct Engine;  // c10d objects; kept out of this header
  Group(GroupOptions options, std::unique_ptr<Engine> engine);
  GroupOptions options_;
  std::unique_ptr<Engine> engine_;  // null for one process
};

// A contiguous, balanced share of `total` items for `rank` of `world_size`:
// sizes differ by at most one, lower ranks take the larger shares.
struct Shard {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
Shard shard_of(int64_t total, int rank, int world_size);

}  // namespace bnlab::parallel

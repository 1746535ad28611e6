#include "parallel/group.h"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/text.h"

namespace bnlab::parallel {
namespace {

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

// A flag's value, else the environment variable's (parsed), else `fallback`.
int int_setting(const std::optional<int>& flag, const char* flag_name, const char* variable, int fallback) {
  if (flag) return *flag;
  const auto text = environment(variable);
  if (!text) return fallback;
  const int64_t value = parse_int(*text, variable);  // names the variable when not a number
  if (value < INT32_MIN || value > INT32_MAX)
    throw std::invalid_argument(fmt::format("{} (or {}): {} is out of range", variable, flag_name, *text));
  return int(value);
}

std::string describe(const GroupOptions& o) {
  return fmt::format("rank {} of {} ({})", o.rank, o.world_size, rendezvous_text(o));
}

std::string message_of(const std::exception& error) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) return c10_error->what_without_backtrace();
  return error.what();
}

// The rendezvous (store, then Gloo's full mesh) timed out or was refused.
std::string not_joined(const GroupOptions& o, const char* stage, const std::string& what) {
  return fmt::format(
      "{}: not every rank joined within {} s ({}: {}); a rank never started, crashed, or was given "
      "another --master-addr/--master-port/--world-size",
      describe(o), o.timeout.count() / 1000.0, stage, what);
}

// Gloo needs an address of this host that the other ranks can reach: the
// interface named by GLOO_SOCKET_IFNAME (as in PyTorch), loopback for a job
// on one host, else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const GroupOptions& o) {
  if (const auto interface = environment("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(*interface);
  const bool loopback = o.master_addr == "localhost" || o.master_addr.rfind("127.", 0) == 0;
  return loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                  : c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<c10d::Store> make_store(const GroupOptions& o) {
  if (!o.store_file.empty()) {
    auto store = c10::make_intrusive<c10d::FileStore>(o.store_file, o.world_size);
    store->setTimeout(o.timeout);
    return store;
  }
  c10d::TCPStoreOptions store_options;
  store_options.port = uint16_t(o.master_port);
  store_options.isServer = o.rank == 0 && !o.agent_store_attempt;
  store_options.numWorkers = size_t(o.world_size);
  store_options.waitWorkers = !o.agent_store_attempt;  // our rank 0 returns once every rank has connected
  store_options.timeout = o.timeout;
  auto store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_options);
  if (!o.agent_store_attempt) return store;
  return c10::make_intrusive<c10d::PrefixStore>(fmt::format("/worker/attempt_{}", *o.agent_store_attempt), store);
}

}  // namespace

std::string rendezvous_text(const GroupOptions& o) {
  if (!o.store_file.empty()) return "store file " + o.store_file;
  if (o.agent_store_attempt)
    return fmt::format("torchrun's store {}:{}, attempt {}", o.master_addr, o.master_port, *o.agent_store_attempt);
  return fmt::format("store {}:{}", o.master_addr, o.master_port);
}

GroupOptions resolve_group_options(const GroupFlags& flags) {
  GroupOptions o;
  o.world_size = int_setting(flags.world_size, "--world-size", "WORLD_SIZE", 1);
  o.rank = int_setting(flags.rank, "--rank", "RANK", 0);
  o.master_port = int_setting(flags.master_port, "--master-port", "MASTER_PORT", o.master_port);
  o.master_addr = flags.master_addr ? *flags.master_addr : environment("MASTER_ADDR").value_or(o.master_addr);
  if (o.world_size < 1)
    throw std::invalid_argument(fmt::format("--world-size (or WORLD_SIZE) must be at least 1, got {}", o.world_size));
  if (o.rank < 0 || o.rank >= o.world_size)
    throw std::invalid_argument(fmt::format("--rank (or RANK) must be in 0..{} for world size {}, got {}",
                                            o.world_size - 1, o.world_size, o.rank));
  if (o.master_port < 1 || o.master_port > 65535)
    throw std::invalid_argument(
        fmt::format("--master-port (or MASTER_PORT) must be in 1..65535, got {}", o.master_port));
  if (o.master_addr.empty()) throw std::invalid_argument("--master-addr (or MASTER_ADDR) is empty");
  o.store_file = environment("BNLAB_STORE_FILE").value_or("");
  if (environment("TORCHELASTIC_USE_AGENT_STORE") == std::optional<std::string>("True"))
    o.agent_store_attempt = int_setting(std::nullopt, "(torchrun's)", "TORCHELASTIC_RESTART_COUNT", 0);
  std::optional<double> timeout = flags.timeout_seconds;
  if (!timeout)
    if (const auto text = environment("BNLAB_DIST_TIMEOUT")) timeout = parse_double(*text, "BNLAB_DIST_TIMEOUT");
  if (timeout) {
    if (!(*timeout > 0))
      throw std::invalid_argument(
          fmt::format("--dist-timeout (or BNLAB_DIST_TIMEOUT) must be positive seconds, got {}", *timeout));
    o.timeout = std::chrono::milliseconds(int64_t(*timeout * 1000));
  }
  return o;
}

struct Group::Engine {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

Group::Group(GroupOptions options, std::unique_ptr<Engine> engine)
    : options_(std::move(options)), engine_(std::move(engine)) {}
Group::~Group() = default;

std::shared_ptr<Group> Group::solo() { return std::shared_ptr<Group>(new Group(GroupOptions{}, nullptr)); }

std::shared_ptr<Group> Group::join(const GroupOptions& o) {
  if (o.world_size == 1) return std::shared_ptr<Group>(new Group(o, nullptr));
  // A peer that dies leaves its sockets closed; writing to one raises SIGPIPE,
  // which would kill this rank silently (exit 141) instead of letting Gloo
  // report the broken pipe as an error we can name. Python, and so torchrun
  // jobs, ignore SIGPIPE too.
  std::signal(SIGPIPE, SIG_IGN);
  auto engine = std::make_unique<Engine>();
  try {
    engine->store = make_store(o);
  } catch (const std::exception& error) {
    const std::string what = message_of(error);
    if (o.rank == 0 && what.find("bind") != std::string::npos)
      throw DistError(
          fmt::format("{}: cannot serve the rendezvous store on port {} (in use? pick another "
                      "--master-port): {}",
                      describe(o), o.master_port, what));
    throw DistError(not_joined(o, "the rendezvous store", what));
  }
  try {
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(o.timeout);
    gloo_options->devices.push_back(gloo_device(o));
    // Collectives are waited for one at a time, so one worker thread does;
    // the default two contend on 2-core machines (measured on loopback with
    // 2 ranks: a 256-float all_reduce took 1.37 ms with two, 0.37 ms with one).
    gloo_options->threads = 1;
    engine->group = c10::make_intrusive<c10d::ProcessGroupGloo>(engine->store, o.rank, o.world_size, gloo_options);
  } catch (const std::exception& error) {
    throw DistError(not_joined(o, "forming the Gloo process group", message_of(error)));
  }
  return std::shared_ptr<Group>(new Group(o, std::move(engine)));
}

namespace {

// Waits for a collective, turning c10d's errors (peer gone, timeout) into one
// message that says which collective and what probably happened.
void wait_for(const c10::intrusive_ptr<c10d::Work>& work, const char* what, const GroupOptions& o) {
  try {
    work->wait();
  } catch (const std::exception& error) {
    throw DistError(fmt::format("{}: {} failed: {} (another rank stopped, crashed or did not answer within {} s)",
                                describe(o), what, message_of(error), o.timeout.count() / 1000.0));
  }
}

}  // namespace

void Group::all_reduce_sum(std::vector<torch::Tensor>& tensors) const {
  if (!engine_) return;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& tensor : tensors) {
    std::vector<torch::Tensor> one = {tensor};  // Gloo's list is one tensor per device
    works.push_back(engine_->group->allreduce(one));
  }
  for (auto& work : works) wait_for(work, "all_reduce", options_);
}

void Group::all_reduce_sum(torch::Tensor& tensor) const {
  std::vector<torch::Tensor> one = {tensor};
  all_reduce_sum(one);
}

void Group::broadcast(std::vector<torch::Tensor>& tensors, int root) const {
  if (!engine_) return;
  c10d::BroadcastOptions broadcast_options;
  broadcast_options.rootRank = root;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& tensor : tensors) {
    std::vector<torch::Tensor> one = {tensor};
    works.push_back(engine_->group->broadcast(one, broadcast_options));
  }
  for (auto& work : works) wait_for(work, "broadcast", options_);
}

torch::Tensor Group::all_gather(const torch::Tensor& tensor) const {
  if (!engine_) return tensor.unsqueeze(0).clone();
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < size(); ++r) outputs[0].push_back(torch::empty_like(tensor));
  std::vector<torch::Tensor> inputs = {tensor.contiguous()};
  wait_for(engine_->group->allgather(outputs, inputs), "all_gather", options_);
  return torch::stack(outputs[0]);
}

void Group::barrier() const {
  if (!engine_) return;
  wait_for(engine_->group->barrier(), "barrier", options_);
}

Shard shard_of(int64_t total, int rank, int world_size) {
  const int64_t base = total / world_size, extra = total % world_size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace bnlab::parallel

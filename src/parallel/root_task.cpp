#include "parallel/root_task.h"

#include <torch/torch.h>

#include <cstring>
#include <exception>
#include <stdexcept>

namespace bnlab::parallel {
namespace {

// The outcome rank 0 broadcasts first: how the task ended and how many bytes follow.
enum Outcome : int64_t { kReturned = 0, kFailed = 1, kBadInput = 2 };

[[noreturn]] void throw_on_other_rank(int64_t outcome, const std::string& message) {
  const std::string text = "rank 0: " + message;
  if (outcome == kBadInput) throw std::invalid_argument(text);
  throw std::runtime_error(text);
}

}  // namespace

std::string run_on_root(const Group& group, const std::function<std::string()>& task) {
  if (group.size() == 1) return task();
  std::string payload;  // rank 0: the result, or the error's message
  int64_t outcome = kReturned;
  std::exception_ptr failure;
  if (group.is_root()) {
    try {
      payload = task();
    } catch (const std::invalid_argument& error) {
      outcome = kBadInput, payload = error.what(), failure = std::current_exception();
    } catch (const std::exception& error) {
      outcome = kFailed, payload = error.what(), failure = std::current_exception();
    }
  }
  std::vector<torch::Tensor> header = {torch::tensor({outcome, int64_t(payload.size())}, torch::kInt64)};
  group.broadcast(header, 0);
  outcome = header[0][0].item<int64_t>();
  const int64_t size = header[0][1].item<int64_t>();
  if (size > 0) {
    auto bytes = torch::empty({size}, torch::kUInt8);  // (size,)
    if (group.is_root()) std::memcpy(bytes.data_ptr<uint8_t>(), payload.data(), size_t(size));
    std::vector<torch::Tensor> body = {bytes};
    group.broadcast(body, 0);
    if (!group.is_root()) payload.assign(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), size_t(size));
  }
  if (failure) std::rethrow_exception(failure);
  if (outcome != kReturned) throw_on_other_rank(outcome, payload);
  return payload;
}

}  // namespace bnlab::parallel

#include "parallel/data_parallel.h"

#include <fmt/format.h>

namespace bnlab::parallel {
namespace {

std::vector<torch::Tensor> tensors_of(const torch::OrderedDict<std::string, torch::Tensor>& named) {
  std::vector<torch::Tensor> tensors;
  for (const auto& item : named) tensors.push_back(item.value());
  return tensors;
}

void broadcast_in_place(std::vector<torch::Tensor> tensors, const Group& group) {
  if (group.size() == 1 || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  // Gloo broadcasts dense contiguous tensors; parameters are, but say so.
  for (const auto& t : tensors) TORCH_CHECK(t.is_contiguous(), "broadcast: a non-contiguous parameter or buffer");
  group.broadcast(tensors, 0);
}

}  // namespace

void broadcast_parameters_and_buffers(torch::nn::Module& model, const Group& group) {
  broadcast_in_place(tensors_of(model.named_parameters()), group);
  broadcast_buffers(model, group);
}

void broadcast_buffers(torch::nn::Module& model, const Group& group) {
  broadcast_in_place(tensors_of(model.named_buffers()), group);
}

void check_replicas_agree(const torch::nn::Module& model, const Group& group, const std::string& when) {
  if (group.size() == 1) return;
  std::vector<std::string> names;
  std::vector<double> sums;
  auto add = [&](const torch::OrderedDict<std::string, torch::Tensor>& named) {
    for (const auto& item : named) {
      names.push_back(item.key());
      sums.push_back(item.value().detach().to(torch::kFloat64).sum().item<double>());
    }
  };
  add(model.named_parameters());
  add(model.named_buffers());
  const auto gathered = group.all_gather(torch::tensor(sums, torch::kFloat64));  // (W, T)
  const auto g = gathered.accessor<double, 2>();
  // Every rank applies the same summed gradients, so replicas must agree to
  // the bit; any difference means a rank trained on something else.
  for (int64_t r = 1; r < gathered.size(0); ++r)
    for (size_t t = 0; t < names.size(); ++t)
      if (g[r][t] != g[0][t])
        throw DistError(
            fmt::format("{}: rank {} has drifted from rank 0: checksum of '{}' is {:.17g} there, "
                        "{:.17g} on rank 0",
                        when, r, names[t], g[r][t], g[0][t]));
}

GradientReducer::GradientReducer(std::vector<torch::Tensor> parameters, const Group& group, int64_t bucket_elements)
    : group_(group) {
  if (group.size() == 1) return;
  // Parameters in order, a new bucket when the dtype changes or the cap is hit.
  std::vector<int64_t> sizes;
  for (const auto& p : parameters) {
    if (buckets_.empty() || buckets_.back().parameters.front().scalar_type() != p.scalar_type() ||
        sizes.back() + p.numel() > bucket_elements) {
      buckets_.emplace_back();
      sizes.push_back(0);
    }
    buckets_.back().parameters.push_back(p);
    sizes.back() += p.numel();
  }
  // Each parameter's slot in its bucket is a view made once, not per step.
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    bucket.flat = torch::empty({sizes[b]}, bucket.parameters.front().options().requires_grad(false));
    int64_t offset = 0;
    for (const auto& p : bucket.parameters) {
      bucket.slots.push_back(bucket.flat.slice(0, offset, offset + p.numel()).view(p.sizes()));
      offset += p.numel();
    }
  }
}

void GradientReducer::all_reduce() {
  if (buckets_.empty()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flats;
  for (auto& bucket : buckets_) {
    for (size_t i = 0; i < bucket.parameters.size(); ++i) {
      const auto& grad = bucket.parameters[i].grad();
      if (grad.defined())
        bucket.slots[i].copy_(grad);
      else
        bucket.slots[i].zero_();
    }
    flats.push_back(bucket.flat);
  }
  group_.all_reduce_sum(flats);
  for (auto& bucket : buckets_)
    for (size_t i = 0; i < bucket.parameters.size(); ++i) {
      auto& p = bucket.parameters[i];
      if (p.grad().defined())
        p.mutable_grad().copy_(bucket.slots[i]);
      else
        p.mutable_grad() = bucket.slots[i].clone();
    }
}

}  // namespace bnlab::parallel

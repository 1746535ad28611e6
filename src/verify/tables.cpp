#include "verify/tables.h"

namespace bnlab::verify {

const EnumNames<NormUnderTest>& enum_names(NormUnderTest) {
  static const EnumNames<NormUnderTest> names = {
      {NormUnderTest::kBatch, "batch"}, {NormUnderTest::kGhost, "ghost"}, {NormUnderTest::kRenorm, "renorm"},
      {NormUnderTest::kGroup, "group"}, {NormUnderTest::kLayer, "layer"}, {NormUnderTest::kInstance, "instance"}};
  return names;
}

VerifyTable verify_table(NormUnderTest norm, int count, uint64_t seed, std::optional<torch::Dtype> dtype,
                         const std::vector<Kernels>& kernels, const std::vector<Isa>& isas) {
  switch (norm) {
    case NormUnderTest::kBatch:
      return {norm, "torch::nn::BatchNorm1d/2d", verify_cases(count, seed, dtype, kernels, isas)};
    case NormUnderTest::kGhost:
      return {norm, "torch::nn::BatchNorm1d/2d applied to each virtual batch in turn",
              for_each_kernels(ghost_cases(dtype), kernels, isas)};
    case NormUnderTest::kRenorm:
      return {norm,
              "the renorm reference (tensor ops + autograd, r and d detached); torch::nn::BatchNorm1d/2d for "
              "rmax = 1, dmax = 0",
              for_each_kernels(renorm_cases(dtype), kernels, isas)};
    case NormUnderTest::kGroup:
      return {norm, "torch::nn::GroupNorm",
              for_each_kernels(group_family_cases(NormFamily::kGroup, dtype), kernels, isas)};
    case NormUnderTest::kLayer:
      return {norm, "at::layer_norm with per-channel affine (torch::nn::LayerNorm for (N, C))",
              for_each_kernels(group_family_cases(NormFamily::kLayer, dtype), kernels, isas)};
    case NormUnderTest::kInstance:
      return {norm, "torch::nn::InstanceNorm1d/2d",
              for_each_kernels(group_family_cases(NormFamily::kInstance, dtype), kernels, isas)};
  }
  throw std::logic_error("verify_table: unknown norm");
}

}  // namespace bnlab::verify

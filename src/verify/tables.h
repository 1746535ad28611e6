#pragma once
// `bnlab verify`'s tables: one per normalisation, each with the reference its
// cases are compared with.
#include <optional>
#include <string>
#include <vector>

#include "core/enum_names.h"
#include "verify/equivalence.h"

namespace bnlab::verify {

enum class NormUnderTest { kBatch, kGhost, kRenorm, kGroup, kLayer, kInstance };
// "batch", "ghost", "renorm", "group", "layer", "instance"
const EnumNames<NormUnderTest>& enum_names(NormUnderTest);

struct VerifyTable {
  NormUnderTest norm;
  std::string reference;  // what the cases are compared with, for the heading
  std::vector<EquivalenceCase> cases;
};

// The table of `norm`: for batch, `count` random cases from `seed` plus the
// fixed hard and edge cases; the others' fixed tables. Restricted to `dtype`
// when given, each case once per kernel set and fused copy (for_each_kernels).
VerifyTable verify_table(NormUnderTest norm, int count, uint64_t seed, std::optional<torch::Dtype> dtype,
                         const std::vector<Kernels>& kernels, const std::vector<Isa>& isas);

}  // namespace bnlab::verify

#include "bn/kernels.h"

#include <stdexcept>

#include "bn/fused_kernels.h"
#include "bn/reference_kernels.h"

namespace bnlab::bn {

const KernelSet& kernel_set(Kernels which) {
  return which == Kernels::kFused ? fused::kernel_set() : reference::kernel_set();
}

const EnumNames<Kernels>& enum_names(Kernels) {
  static const EnumNames<Kernels> names = {{Kernels::kFused, "fused"}, {Kernels::kReference, "reference"}};
  return names;
}

Kernels parse_kernels(const std::string& name) {
  if (const auto kernels = from_name<Kernels>(name)) return *kernels;
  throw std::invalid_argument("unknown BatchNorm kernels '" + name + "' (reference, fused)");
}

const char* to_string(Kernels which) { return to_name(which).c_str(); }

}  // namespace bnlab::bn

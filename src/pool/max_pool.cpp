#include "pool/max_pool.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "core/cpu.h"

// The compiled copies of max_pool_kernels_impl.h.
#define BNLAB_ISA_DECLARATIONS "pool/max_pool_kernels_isa.h"
#include "core/isa_copies.h"

namespace bnlab::pool {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Planes (one (n, c) image each) per parallel task: enough work (~16k
// outputs) that a task pays for its dispatch.
int64_t plane_grain(int64_t outputs_per_plane) { return std::max<int64_t>(1, (1 << 14) / outputs_per_plane); }

class MaxPool2x2Function : public torch::autograd::Function<MaxPool2x2Function> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x) {
    auto [y, winner] = max_pool_2x2_forward(x);
    ctx->save_for_backward({winner});
    ctx->saved_data["input_size"] = x.sizes();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto winner = ctx->get_saved_variables()[0];  // (N,C,OH,OW) uint8
    return {max_pool_2x2_backward(grad_outputs[0], winner, ctx->saved_data["input_size"].toIntVector())};
  }
};

}  // namespace

PooledWithWinners max_pool_2x2_forward(const torch::Tensor& x_in) {
  const auto x = x_in.contiguous();  // (N,C,H,W)
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = H / 2, OW = W / 2;
  PooledWithWinners out{torch::empty({N, C, OH, OW}, x.options()),                        // (N,C,OH,OW)
                        torch::empty({N, C, OH, OW}, x.options().dtype(torch::kUInt8))};  // (N,C,OH,OW)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bnlab_max_pool_2x2", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = out.y.data_ptr<scalar_t>();
    uint8_t* wp = out.winner.data_ptr<uint8_t>();
    auto* pool_plane = BNLAB_ISA_COPY(max_pool_kernels, pool_plane<scalar_t>);
    at::parallel_for(0, N * C, plane_grain(OH * OW), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) pool_plane(xp + p * H * W, yp + p * OH * OW, wp + p * OH * OW, W, OH, OW);
    });
  });
  return out;
}

torch::Tensor max_pool_2x2_backward(const torch::Tensor& dy_in, const torch::Tensor& winner,
                                    at::IntArrayRef input_size) {
  const auto dy = dy_in.contiguous();  // (N,C,OH,OW)
  const int64_t H = input_size[2], W = input_size[3], OH = dy.size(2), OW = dy.size(3);
  auto dx = torch::empty(input_size, dy.options());  // (N,C,H,W)
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "bnlab_max_pool_2x2_backward", [&] {
    const scalar_t* dyp = dy.data_ptr<scalar_t>();
    const uint8_t* wp = winner.data_ptr<uint8_t>();
    scalar_t* dxp = dx.data_ptr<scalar_t>();
    auto* unpool_plane = BNLAB_ISA_COPY(max_pool_kernels, unpool_plane<scalar_t>);
    at::parallel_for(0, input_size[0] * input_size[1], plane_grain(OH * OW), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        unpool_plane(dyp + p * OH * OW, wp + p * OH * OW, dxp + p * H * W, H, W, OH, OW);
    });
  });
  return dx;
}

void check_max_pool_2x2_input(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "MaxPool2x2: expected a 4D (N,C,H,W) input, got shape ", x.sizes());
  TORCH_CHECK(x.size(2) >= 2 && x.size(3) >= 2, "MaxPool2x2: each image must be at least 2x2, got shape ", x.sizes());
  TORCH_CHECK(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64,
              "MaxPool2x2: expected float32 or float64 input, got ", x.scalar_type());
  TORCH_CHECK(x.device().is_cpu(), "MaxPool2x2: only CPU tensors are supported, got ", x.device());
}

torch::Tensor max_pool_2x2(const torch::Tensor& x) {
  check_max_pool_2x2_input(x);
  return MaxPool2x2Function::apply(x);
}

}  // namespace bnlab::pool

// The whole-layer kernels' two ways of writing y and dx, plain stores and
// non-temporal stores through an L1 buffer (fused_kernels_loops.h): which one
// a layer gets depends on its size and the caches of the machine
// (fused_kernels.cpp), so both are run here directly, on every compiled copy
// this CPU runs, and must write the same bits. Seen to fail (42 of 63
// checks) with the last 4 bytes of every streamed row left unwritten.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "bn/fused_kernels.h"
#include "core/cpu.h"

#define BNLAB_ISA_DECLARATIONS "bn/fused_kernels_isa.h"
#include "core/isa_copies.h"

namespace {

struct Written {
  torch::Tensor y, mask, dx;
};

// Forward then backward over all channels of x (N, C, S), y and dx streamed
// or not.
Written run_layer(const torch::Tensor& x, const torch::Tensor& dy, bool relu, bool relu_input, bool stream) {
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  auto gamma = torch::rand({C}) + 0.5, beta = torch::randn({C});
  Written out{torch::empty_like(x), relu ? torch::empty_like(x, torch::kBool) : torch::Tensor(), torch::empty_like(x)};
  std::vector<double> mean(C), var(C), invstd(C), sum_dy(C), sum_dy_xhat(C), work_d(3 * C);
  std::vector<float> work_t(4 * C);
  auto* mask = relu ? reinterpret_cast<uint8_t*>(out.mask.data_ptr<bool>()) : nullptr;
  BNLAB_ISA_COPY(bnlab::bn::fused, forward_batch_stats<float>)
  (x.data_ptr<float>(), out.y.data_ptr<float>(), N, C, S, 0, C, 1e-5, gamma.data_ptr<float>(), beta.data_ptr<float>(),
   mean.data(), var.data(), stream, mask, relu_input, work_d.data(), work_t.data());
  for (int64_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(var[c] + 1e-5);
  BNLAB_ISA_COPY(bnlab::bn::fused, backward_with_batch_stats<float>)
  (dy.data_ptr<float>(), x.data_ptr<float>(), out.dx.data_ptr<float>(), N, C, S, 0, C, mean.data(), invstd.data(),
   gamma.data_ptr<float>(), sum_dy.data(), sum_dy_xhat.data(), stream, mask, relu_input, work_d.data(), work_t.data());
  return out;
}

}  // namespace

TEST_CASE("streamed and plain stores write the same y and dx", "[bn]") {
  const auto isa = GENERATE(from_range(bnlab::supported_isas()));  // every compiled copy this CPU runs
  const bnlab::ScopedIsa copy(isa);
  // Odd sizes: rows start unaligned, and the buffered rows end mid-line;
  // (N, C) rows (S = 1) go through the tiled path, with few channels.
  const auto shape =
      GENERATE(std::vector<int64_t>{5, 7, 1031}, std::vector<int64_t>{1029, 12, 1}, std::vector<int64_t>{67, 300, 1});
  const auto [relu, relu_input] = GENERATE(table<bool, bool>({{false, false}, {true, false}, {false, true}}));
  CAPTURE(bnlab::to_name(isa), shape, relu, relu_input);
  torch::manual_seed(5);
  const auto x = torch::randn(shape), dy = torch::randn(shape);
  torch::manual_seed(6);
  const auto plain = run_layer(x, dy, relu, relu_input, /*stream=*/false);
  torch::manual_seed(6);
  const auto streamed = run_layer(x, dy, relu, relu_input, /*stream=*/true);
  CHECK(torch::equal(plain.y, streamed.y));
  CHECK(torch::equal(plain.dx, streamed.dx));
  if (relu) CHECK(torch::equal(plain.mask, streamed.mask));
}

TEST_CASE("dx is streamed only when nothing reads it next, or when it would leave the cache before", "[bn]") {
  using bnlab::bn::fused::streams_dx;
  constexpr int64_t MB = 1 << 20, l3 = 32 * MB;  // an AMD EPYC's L3
  // {dx bytes, bytes its pass reads and writes, read next by a layer below, streamed}
  const auto [dx_bytes, pass_bytes, read_next, streamed] = GENERATE(table<int64_t, int64_t, bool, bool>({
      {4 * MB, 12 * MB, false, false},  // small: plain stores, whoever reads it
      {8 * MB, 24 * MB, false, true},   // 8 MB and nobody reads it (bench bn's leaf x)
      {11 * MB, 25 * MB, true, false},  // keras-cnn at batch 128, pooled: read next, fits the L3
      {11 * MB, 33 * MB, true, true},   // the same layer unpooled: its pass overflows the L3
      {22 * MB, 66 * MB, false, true},  // both reasons
  }));
  CAPTURE(dx_bytes, pass_bytes, read_next);
  CHECK(streams_dx(dx_bytes, pass_bytes, read_next, l3) == streamed);
}

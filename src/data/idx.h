#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace bnlab::data {

// The IDX format (as used by MNIST): a 4-byte magic number 0x00 0x00 <type>
// <rank>, then `rank` big-endian uint32 dimensions, then the payload. bnlab
// reads only type 0x08 (unsigned byte).
//
// Every failure throws std::runtime_error whose message starts with the file
// path and names the problem: missing, wrong magic, wrong rank, zero
// dimension, truncated, trailing bytes.
torch::Tensor read_idx_u8(const std::filesystem::path& path, int64_t expected_rank);

// Writes a uint8 tensor as an IDX file (type 0x08, rank = tensor.dim()).
void write_idx_u8(const std::filesystem::path& path, const torch::Tensor& values);

}  // namespace bnlab::data

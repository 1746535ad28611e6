// Checks a zip archive's records against their CRC-32s before a reader
// trusts them. LibTorch reads checkpoints (zip archives) with miniz built
// without its CRC checks, so a damaged record reaches its unpickler and
// TorchScript parser, which can crash on it (found by fuzz_checkpoint: a
// SIGSEGV in ScriptTypeParser) instead of reporting it.
#pragma once
#include <string_view>

namespace bnlab {

// Throws std::runtime_error naming the first problem: no end-of-central-
// directory record, a record that lies outside the file, a compression
// method other than stored or deflate, zip64 (archives over 4 GB), or a
// record whose bytes do not match its CRC-32 or size. Says nothing about
// what the records mean: an archive can pass and still be refused by its
// reader.
void check_zip_integrity(std::string_view bytes);

}  // namespace bnlab

#pragma once

namespace bnlab {
// Defined in the generated build_info.cpp (see cmake/WriteBuildInfo.cmake).
const char* build_version();
const char* build_commit();
}  // namespace bnlab

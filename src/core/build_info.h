#pragma once

namespace bnlab {
// Defined in the generated build_info.cpp (see cmake/WriteBuildInfo.cmake).
const char* build_version();
const char* build_commit();
// "bnlab VERSION (commit COMMIT)": what `bnlab version` and the bench headers print.
const char* build_description();
}  // namespace bnlab

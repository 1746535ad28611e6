#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bnlab {

std::vector<std::string> split(const std::string& text, char separator);
std::string join(const std::vector<std::string>& parts, const std::string& separator);

// Parses a whole string as a number, or throws std::invalid_argument naming
// `what` and the offending text ("--threads: expected an integer, got 'x'").
int64_t parse_int(const std::string& text, const std::string& what);
double parse_double(const std::string& text, const std::string& what);

}  // namespace bnlab

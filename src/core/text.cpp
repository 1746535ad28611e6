#include "core/text.h"

#include <fmt/format.h>

#include <sstream>
#include <stdexcept>

namespace bnlab {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(part);
  return parts;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

namespace {

// Parses all of `text` with `convert` (std::stoll, std::stod, ...), or
// throws naming `what`, the expected `kind` and the text.
template <typename T, typename Convert>
T parse_whole(const std::string& text, const std::string& what, const char* kind, Convert convert) {
  size_t used = 0;
  T value{};
  try {
    value = convert(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size())
    throw std::invalid_argument(fmt::format("{}: expected {}, got '{}'", what, kind, text));
  return value;
}

}  // namespace

int64_t parse_int(const std::string& text, const std::string& what) {
  return parse_whole<int64_t>(text, what, "an integer",
                              [](const std::string& t, size_t* used) { return std::stoll(t, used); });
}

double parse_double(const std::string& text, const std::string& what) {
  // std::stod also reads "nan", "inf" and "-inf", as bnlab writes them.
  return parse_whole<double>(text, what, "a number",
                             [](const std::string& t, size_t* used) { return std::stod(t, used); });
}

}  // namespace bnlab

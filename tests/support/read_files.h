#pragma once
// Reading back what a test or bnlab wrote.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bnlab::test {

std::string read_text(const std::filesystem::path& path);                // "" when absent
std::vector<std::string> read_lines(const std::filesystem::path& path);  // without newlines
nlohmann::json read_json(const std::filesystem::path& path);

}  // namespace bnlab::test

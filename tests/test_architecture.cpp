// The house rules that a reader of docs/architecture.md relies on, checked
// on the source tree: every folder includes only the folders below it, and
// no source file outgrows one idea (400 lines).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

// What each folder of src/ may include besides itself: the arrows of
// docs/architecture.md. A new folder or arrow is added here and there.
const std::map<std::string, std::set<std::string>>& allowed_includes() {
  static const std::map<std::string, std::set<std::string>> allowed = {
      {"core", {}},
      {"data", {"core"}},
      {"pool", {"core"}},
      {"parallel", {"core"}},
      {"bn", {"core", "parallel", "pool"}},
      {"gn", {"core", "bn"}},
      {"verify", {"core", "parallel", "bn", "gn"}},
      {"models", {"core", "parallel", "pool", "bn", "gn"}},
      {"experiments", {"core", "parallel", "bn", "gn", "models"}},
      {"runs", {"core", "experiments"}},
      {"train", {"core", "data", "parallel", "pool", "bn", "gn", "models", "experiments", "runs"}},
      {"sweep", {"core", "data", "parallel", "pool", "bn", "gn", "models", "experiments", "runs", "train"}},
      {"bench", {"core", "data", "parallel", "pool", "bn", "gn", "models", "experiments", "runs", "train"}},
      {"results", {"core", "experiments", "runs"}},
      {"cli",
       {"core", "data", "parallel", "pool", "bn", "gn", "verify", "models", "experiments", "runs", "train", "sweep",
        "bench", "results"}},
  };
  return allowed;
}

std::vector<fs::path> source_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(BNLAB_SOURCE_DIR) / "src"))
    if (entry.is_regular_file() && (entry.path().extension() == ".h" || entry.path().extension() == ".cpp"))
      files.push_back(entry.path());
  return files;
}

std::string folder_of(const fs::path& file) {
  return fs::relative(file, fs::path(BNLAB_SOURCE_DIR) / "src").begin()->string();
}

// The include lines of `text` (a file of `folder`) that point where the map
// does not allow, as "line N: ...".
std::vector<std::string> wrong_arrows(const std::string& folder, std::istream& text) {
  static const std::regex project_include(R"(^\s*#\s*include\s*"([a-z_]+)/)");
  const auto& allowed = allowed_includes().at(folder);
  std::vector<std::string> wrong;
  std::string line;
  for (int number = 1; std::getline(text, line); ++number) {
    std::smatch match;
    if (!std::regex_search(line, match, project_include)) continue;
    const std::string target = match[1];
    if (target != folder && !allowed.count(target)) wrong.push_back("line " + std::to_string(number) + ": " + line);
  }
  return wrong;
}

}  // namespace

TEST_CASE("every folder includes only the folders below it", "[architecture]") {
  const auto files = source_files();
  REQUIRE(files.size() > 50);
  for (const auto& file : files) {
    const std::string folder = folder_of(file);
    if (folder == file.filename().string()) continue;  // src/main.cpp: the binary, above everything
    INFO(file.string());
    REQUIRE(allowed_includes().count(folder));  // a new folder needs its place in the map
    std::ifstream in(file);
    CHECK(wrong_arrows(folder, in).empty());
  }
}

TEST_CASE("the layering check sees a wrong arrow", "[architecture]") {
  std::istringstream core_including_cli("#include <string>\n#include \"core/text.h\"\n#include \"cli/errors.h\"\n");
  CHECK(wrong_arrows("core", core_including_cli) == std::vector<std::string>{"line 3: #include \"cli/errors.h\""});
  std::istringstream models_including_schema("#include \"experiments/run_config.h\"\n");
  CHECK(wrong_arrows("models", models_including_schema).size() == 1);  // models do not know the config schema
}

TEST_CASE("no source file is over 400 lines", "[architecture]") {
  for (const auto& file : source_files()) {
    std::ifstream in(file);
    size_t lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    INFO(file.string() << ": " << lines << " lines");
    CHECK(lines <= 400);
  }
}

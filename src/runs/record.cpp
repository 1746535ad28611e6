#include "runs/record.h"

#include <fmt/format.h>

#include <array>
#include <fstream>
#include <stdexcept>

#include "core/durable_file.h"
#include "runs/layout.h"

namespace bnlab::runs {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<RunStatus, const char*>, 5> kStatusNames = {{{RunStatus::kRunning, "running"},
                                                                            {RunStatus::kCompleted, "completed"},
                                                                            {RunStatus::kDiverged, "diverged"},
                                                                            {RunStatus::kInterrupted, "interrupted"},
                                                                            {RunStatus::kFailed, "failed"}}};

template <typename T>
json or_null(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

template <typename T>
std::optional<T> optional_field(const json& object, const char* key) {
  if (!object.contains(key) || object[key].is_null()) return std::nullopt;
  return object[key].get<T>();
}

}  // namespace

const char* to_string(RunStatus status) {
  for (const auto& [value, name] : kStatusNames)
    if (value == status) return name;
  return "?";
}

RunStatus parse_run_status(const std::string& text) {
  for (const auto& [value, name] : kStatusNames)
    if (text == name) return value;
  throw std::invalid_argument(fmt::format("unknown run status '{}'", text));
}

bool is_finished(RunStatus status) { return status == RunStatus::kCompleted || status == RunStatus::kDiverged; }

json to_json(const RunRecord& r) {
  json out = {{"experiment", r.experiment},
              {"variant", r.variant},
              {"seed", r.seed},
              {"status", to_string(r.status)},
              {"started_at", r.started_at},
              {"ended_at", or_null(r.ended_at)},
              {"epochs_completed", r.epochs_completed},
              {"diverged_epoch", or_null(r.diverged_epoch)},
              {"error", or_null(r.error)},
              {"config", r.config},
              {"stages", r.stages},
              {"bnlab", {{"version", r.bnlab_version}, {"commit", r.bnlab_commit}}},
              {"libtorch", r.libtorch},
              {"blas", r.blas},
              {"cpu", r.cpu},
              {"kernel_copy", r.kernel_copy},
              {"threads", r.threads},
              {"denormals", r.denormals},
              {"host", r.host},
              {"pid", r.pid},
              {"data_parallel", r.data_parallel}};
  if (r.resumed_at) out["resumed_at"] = *r.resumed_at;
  if (!r.resumes.empty()) out["resumes"] = r.resumes;
  if (r.stopped_in_stage) out["stopped_in_stage"] = *r.stopped_in_stage;
  if (!r.model.is_null()) out["model"] = r.model;
  if (r.final_metrics) out["final"] = final_metrics_json(*r.final_metrics);
  if (r.best_val_accuracy) out["best_val_accuracy"] = *r.best_val_accuracy;
  if (r.seconds_to_first_step) out["seconds_to_first_step"] = *r.seconds_to_first_step;
  return out;
}

RunRecord record_from_json(const json& in, const std::filesystem::path& file) {
  RunRecord r;
  try {
    r.experiment = in.value("experiment", "");
    r.variant = in.value("variant", "");
    r.seed = in.value("seed", int64_t(0));
    r.status = parse_run_status(in.at("status").get<std::string>());
    r.started_at = in.value("started_at", "");
    r.resumed_at = optional_field<std::string>(in, "resumed_at");
    r.ended_at = optional_field<std::string>(in, "ended_at");
    r.epochs_completed = in.value("epochs_completed", int64_t(0));
    r.diverged_epoch = optional_field<int64_t>(in, "diverged_epoch");
    r.stopped_in_stage = optional_field<std::string>(in, "stopped_in_stage");
    r.error = optional_field<std::string>(in, "error");
    r.config = in.value("config", json());
    r.stages = in.value("stages", json());
    const json build = in.value("bnlab", json::object());
    r.bnlab_version = build.value("version", "");
    r.bnlab_commit = build.value("commit", "");
    r.libtorch = in.value("libtorch", "");
    r.blas = in.value("blas", "");
    r.cpu = in.value("cpu", "");
    r.kernel_copy = in.value("kernel_copy", "");
    r.host = in.value("host", "");
    r.threads = in.value("threads", 1);
    r.denormals = in.value("denormals", "");
    r.pid = in.value("pid", int64_t(0));
    r.data_parallel = in.value("data_parallel", json());
    r.model = in.value("model", json());
    r.resumes = in.value("resumes", json::array());
    if (in.contains("final") && in["final"].is_object()) r.final_metrics = final_metrics_from_json(in["final"]);
    r.best_val_accuracy = optional_field<double>(in, "best_val_accuracy");
    r.seconds_to_first_step = optional_field<double>(in, "seconds_to_first_step");
  } catch (const std::exception& error) {
    throw std::runtime_error(fmt::format("{}: not a bnlab run record: {}", file.string(), error.what()));
  }
  return r;
}

std::optional<RunRecord> read_run_record(const std::filesystem::path& run_dir) {
  const auto file = RunFiles(run_dir).run_json();
  if (!std::filesystem::exists(file)) return std::nullopt;
  std::ifstream in(file);
  json parsed;
  try {
    parsed = json::parse(in);
  } catch (const json::exception& error) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", file.string(), error.what()));
  }
  return record_from_json(parsed, file);
}

void write_run_record(const std::filesystem::path& run_dir, const RunRecord& record) {
  const auto file = RunFiles(run_dir).run_json();
  write_file_atomically(file, to_json(record).dump(2) + "\n");
}

std::optional<RunStatus> finished_run_status(const std::filesystem::path& run_dir) {
  const auto record = read_run_record(run_dir);
  if (record && is_finished(record->status)) return record->status;
  return std::nullopt;
}

}  // namespace bnlab::runs

#include "runs/record.h"

#include <fmt/format.h>

#include <array>
#include <fstream>
#include <stdexcept>

#include "core/durable_file.h"
#include "runs/json_values.h"
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
    json_object(in, "top level");
    r.experiment = json_field<std::string>(in, "experiment", "");
    r.variant = json_field<std::string>(in, "variant", "");
    r.seed = json_field<int64_t>(in, "seed", 0);
    r.status = parse_run_status(json_as<std::string>(in.at("status"), "status"));
    r.started_at = json_field<std::string>(in, "started_at", "");
    r.resumed_at = json_optional<std::string>(in, "resumed_at");
    r.ended_at = json_optional<std::string>(in, "ended_at");
    r.epochs_completed = json_field<int64_t>(in, "epochs_completed", 0);
    r.diverged_epoch = json_optional<int64_t>(in, "diverged_epoch");
    r.stopped_in_stage = json_optional<std::string>(in, "stopped_in_stage");
    r.error = json_optional<std::string>(in, "error");
    r.config = in.value("config", json());
    r.stages = in.value("stages", json());
    const json build = in.value("bnlab", json::object());
    json_object(build, "bnlab");
    r.bnlab_version = json_field<std::string>(build, "version", "");
    r.bnlab_commit = json_field<std::string>(build, "commit", "");
    r.libtorch = json_field<std::string>(in, "libtorch", "");
    r.blas = json_field<std::string>(in, "blas", "");
    r.cpu = json_field<std::string>(in, "cpu", "");
    r.kernel_copy = json_field<std::string>(in, "kernel_copy", "");
    r.host = json_field<std::string>(in, "host", "");
    r.threads = json_field<int>(in, "threads", 1);
    r.denormals = json_field<std::string>(in, "denormals", "");
    r.pid = json_field<int64_t>(in, "pid", 0);
    r.data_parallel = in.value("data_parallel", json());
    r.model = in.value("model", json());
    r.resumes = json_array(in.value("resumes", json::array()), "resumes");  // a resume appends to it
    if (const auto final_metrics = json_optional<json>(in, "final"))
      r.final_metrics = final_metrics_from_json(json_object(*final_metrics, "final"));
    r.best_val_accuracy = json_optional<double>(in, "best_val_accuracy");
    r.seconds_to_first_step = json_optional<double>(in, "seconds_to_first_step");
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

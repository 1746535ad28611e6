#include "sweep/export_run.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "bn/batch_norm.h"
#include "core/durable_file.h"
#include "core/input_error.h"
#include "sweep/finished_run.h"

namespace bnlab::sweep {
namespace {

// Batch Renorm's training-time averages (renorm_mean, renorm_std) have no
// place in torch.nn.BatchNorm: at inference Batch Renorm is BatchNorm on
// running_mean and running_var, which are exported.
bool has_pytorch_counterpart(const torch::nn::Module& module, const std::string& buffer) {
  const bool ours = dynamic_cast<const bn::BatchNormImpl*>(&module) != nullptr;
  return !(ours && buffer.rfind("renorm_", 0) == 0);
}

// Each layer's parameters, then its buffers (torch.nn.Module.state_dict's
// order), as "<layer>.<name>".
c10::Dict<std::string, at::Tensor> state_dict(torch::nn::Sequential& model, ExportRunReport& report) {
  c10::Dict<std::string, at::Tensor> dict;
  auto add = [&](const std::string& key, const torch::Tensor& tensor) {
    dict.insert(key, tensor.detach().contiguous());
    report.keys.push_back(key);
    report.values += tensor.numel();
  };
  for (const auto& layer : model->named_children()) {
    for (const auto& parameter : layer.value()->named_parameters(/*recurse=*/false))
      add(layer.key() + "." + parameter.key(), parameter.value());
    for (const auto& buffer : layer.value()->named_buffers(/*recurse=*/false)) {
      const std::string key = layer.key() + "." + buffer.key();
      if (has_pytorch_counterpart(*layer.value(), buffer.key()))
        add(key, buffer.value());
      else
        report.dropped.push_back(key + " (Batch Renorm's training-time average; inference uses running_mean/var)");
    }
  }
  return dict;
}

}  // namespace

ExportRunReport export_run(const ExportRunOptions& options) {
  if (std::filesystem::exists(options.output) && !options.overwrite)
    throw InputError(fmt::format("{}: exists; pass --overwrite to replace it", options.output.string()));
  auto [model_options, model] = load_trained_model(finished_run(options.run_dir, "export"));
  ExportRunReport report;
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(state_dict(model, report)));
  AtomicFile file(options.output);
  file.write(bytes.data(), bytes.size());
  file.commit();
  report.bytes = static_cast<int64_t>(bytes.size());
  report.written = options.output;
  return report;
}

}  // namespace bnlab::sweep

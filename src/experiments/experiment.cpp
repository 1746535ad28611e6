#include "experiments/experiment.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace bnlab::experiments {
namespace fs = std::filesystem;
namespace {

// Errors while reading one file: "<file>:<line>: <where>: <reason>".
class FileErrors {
 public:
  explicit FileErrors(fs::path file) : file_(std::move(file)) {}
  [[noreturn]] void fail(const toml::node* node, const std::string& where, const std::string& reason) const {
    const auto line = node ? node->source().begin.line : 0;
    throw std::runtime_error(line ? fmt::format("{}:{}: {}: {}", file_.string(), line, where, reason)
                                  : fmt::format("{}: {}: {}", file_.string(), where, reason));
  }

 private:
  fs::path file_;
};

std::string describe_node(const toml::node& node) {
  if (auto s = node.as_string()) return "\"" + s->get() + "\"";
  std::ostringstream text;
  node.visit([&](const auto& value) { text << value; });
  return text.str();
}

// Converts a TOML value for `key`, checking its type.
ConfigValue to_config_value(const ConfigKey& key, const toml::node& node) {
  auto wrong = [&]() -> ConfigValue {
    throw std::invalid_argument(
        fmt::format("expected {} {}, got {}", type_name(key.type)[0] == 'i' ? "an" : "a",
                    type_name(key.type), describe_node(node)));
  };
  switch (key.type) {
    case ValueType::kBool:
      if (auto b = node.as_boolean()) return b->get();
      return wrong();
    case ValueType::kInt:
      if (auto i = node.as_integer()) return i->get();
      return wrong();
    case ValueType::kFloat:
      if (auto i = node.as_integer()) return static_cast<double>(i->get());
      if (auto d = node.as_floating_point()) return d->get();
      return wrong();
    case ValueType::kString:
      if (auto s = node.as_string()) return s->get();
      return wrong();
    case ValueType::kFloatOrNone:
      if (auto s = node.as_string(); s && s->get() == "none") return NoneValue{};
      if (auto i = node.as_integer()) return static_cast<double>(i->get());
      if (auto d = node.as_floating_point()) return d->get();
      return wrong();
    case ValueType::kIntList: {
      auto array = node.as_array();
      if (!array) return wrong();
      std::vector<int64_t> values;
      for (const auto& element : *array) {
        auto i = element.as_integer();
        if (!i) return wrong();
        values.push_back(i->get());
      }
      return values;
    }
  }
  return wrong();
}

// Flattens a table of config keys ("[base]", "[variants.x]") into overrides.
void collect_overrides(const toml::table& table, const std::string& prefix, const std::string& where,
                       const FileErrors& errors, Overrides& out) {
  for (const auto& [name, node] : table) {
    const std::string key_name = prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (auto sub = node.as_table()) {
      collect_overrides(*sub, key_name, where, errors, out);
      continue;
    }
    const ConfigKey* key = nullptr;
    try {
      key = &find_config_key(key_name);
    } catch (const std::invalid_argument& unknown) {
      errors.fail(&node, where, unknown.what());
    }
    try {
      ConfigValue value = to_config_value(*key, node);
      RunConfig scratch;  // range checks now, so the error can point at this line
      key->set(scratch, value);
      out.emplace_back(key_name, std::move(value));
    } catch (const std::invalid_argument& wrong_type) {
      errors.fail(&node, where, fmt::format("{}: {}", key_name, wrong_type.what()));
    }
  }
}

std::vector<int64_t> read_seeds(const toml::node* node, const FileErrors& errors) {
  if (!node) return {0};
  auto array = node->as_array();
  if (!array || array->empty())
    errors.fail(node, "seeds", "expected a non-empty list of integers");
  std::vector<int64_t> seeds;
  for (const auto& element : *array) {
    auto seed = element.as_integer();
    if (!seed || seed->get() < 0)
      errors.fail(&element, "seeds", fmt::format("expected non-negative integers, got {}", describe_node(element)));
    if (std::find(seeds.begin(), seeds.end(), seed->get()) != seeds.end())
      errors.fail(&element, "seeds", fmt::format("seed {} listed twice", seed->get()));
    seeds.push_back(seed->get());
  }
  return seeds;
}

bool valid_variant_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '=' || c == ',';
  });
}

}  // namespace

const Variant& Experiment::variant(const std::string& wanted) const {
  std::vector<std::string> names;
  for (const auto& v : variants) {
    if (v.name == wanted) return v;
    names.push_back(v.name);
  }
  throw std::invalid_argument(fmt::format("experiment '{}' has no variant '{}' (variants: {})", name,
                                          wanted, fmt::join(names, ", ")));
}

RunConfig Experiment::config_for(const Variant& v, const Overrides& extra) const {
  RunConfig config;
  apply_overrides(config, base);
  apply_overrides(config, v.overrides);
  apply_overrides(config, extra);
  config = resolved(config);
  validate(config);
  return config;
}

Experiment load_experiment_file(const fs::path& file) {
  const FileErrors errors(file);
  if (!fs::exists(file)) errors.fail(nullptr, "file", "not found");
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& error) {
    throw std::runtime_error(fmt::format("{}:{}: TOML syntax error: {}", file.string(),
                                         error.source().begin.line, error.description()));
  }

  Experiment experiment;
  std::vector<toml::source_index> variant_lines;  // toml++ sorts keys; keep the file's order
  experiment.name = file.stem().string();
  experiment.file = file;
  for (const auto& [name, node] : root) {
    const std::string key(name.str());
    if (key == "description") {
      if (!node.is_string()) errors.fail(&node, key, "expected a string");
      experiment.description = node.as_string()->get();
    } else if (key == "seeds") {
      experiment.seeds = read_seeds(&node, errors);
    } else if (key == "base") {
      if (!node.is_table()) errors.fail(&node, key, "expected a table ([base])");
      collect_overrides(*node.as_table(), "", "base", errors, experiment.base);
    } else if (key == "variants") {
      if (!node.is_table()) errors.fail(&node, key, "expected tables ([variants.NAME])");
      for (const auto& [variant_name, variant_node] : *node.as_table()) {
        const std::string vname(variant_name.str());
        if (!variant_node.is_table()) errors.fail(&variant_node, "variants." + vname, "expected a table");
        if (!valid_variant_name(vname))
          errors.fail(&variant_node, "variants." + vname, "variant names use letters, digits and - _ . = ,");
        Variant variant{vname, {}};
        collect_overrides(*variant_node.as_table(), "", "variants." + vname, errors, variant.overrides);
        experiment.variants.push_back(std::move(variant));
        variant_lines.push_back(variant_node.source().begin.line);
      }
    } else {
      errors.fail(&node, key, "unknown top-level key (expected description, seeds, base, variants)");
    }
  }
  std::vector<size_t> order(experiment.variants.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return variant_lines[a] < variant_lines[b]; });
  std::vector<Variant> in_file_order;
  for (size_t i : order) in_file_order.push_back(std::move(experiment.variants[i]));
  experiment.variants = std::move(in_file_order);
  if (experiment.description.empty()) errors.fail(nullptr, "description", "missing");
  if (experiment.seeds.empty()) experiment.seeds = {0};
  if (experiment.variants.empty()) experiment.variants.push_back({"default", {}});

  // Every variant must resolve to a valid config now, not hours into a sweep.
  for (const auto& variant : experiment.variants) {
    try {
      experiment.config_for(variant);
    } catch (const std::invalid_argument& error) {
      errors.fail(nullptr, variant.name == "default" ? "base" : "variants." + variant.name, error.what());
    }
  }
  return experiment;
}

fs::path experiments_dir() {
  const char* override_dir = std::getenv("BNLAB_EXPERIMENTS_DIR");
  return override_dir && *override_dir ? fs::path(override_dir)
                                       : fs::path(BNLAB_SOURCE_DIR) / "experiments";
}

std::vector<Experiment> load_all_experiments(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".toml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<Experiment> experiments;
  for (const auto& file : files) experiments.push_back(load_experiment_file(file));
  return experiments;
}

Experiment load_experiment(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos || fs::path(name_or_path).extension() == ".toml")
    return load_experiment_file(name_or_path);
  const fs::path file = experiments_dir() / (name_or_path + ".toml");
  if (fs::exists(file)) return load_experiment_file(file);
  std::vector<std::string> names;
  if (fs::is_directory(experiments_dir()))
    for (const auto& entry : fs::directory_iterator(experiments_dir()))
      if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  throw std::invalid_argument(fmt::format("no experiment named '{}' in {} (available: {})", name_or_path,
                                          experiments_dir().string(), fmt::join(names, ", ")));
}

}  // namespace bnlab::experiments

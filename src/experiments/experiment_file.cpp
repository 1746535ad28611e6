// Reading an experiment file (experiment.h): TOML into an Experiment, every
// value converted and checked by its config key as it is read.
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "core/input_error.h"
#include "experiments/experiment.h"
#include "experiments/grid.h"

namespace bnlab::experiments {
namespace fs = std::filesystem;
namespace {

// Errors while reading one file: "<file>:<line>: <where>: <reason>".
class FileErrors {
 public:
  explicit FileErrors(fs::path file) : file_(std::move(file)) {}
  [[noreturn]] void fail(const toml::node* node, const std::string& where, const std::string& reason) const {
    const auto line = node ? node->source().begin.line : 0;
    throw InputError(line ? fmt::format("{}:{}: {}: {}", file_.string(), line, where, reason)
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

// A TOML value of an experiment file as a Literal (config_keys.h).
class TomlLiteral : public Literal {
 public:
  explicit TomlLiteral(const toml::node& node) : node_(node) {}
  std::optional<bool> as_bool() const override {
    if (auto b = node_.as_boolean()) return b->get();
    return std::nullopt;
  }
  std::optional<int64_t> as_int() const override {
    if (auto i = node_.as_integer()) return i->get();
    return std::nullopt;
  }
  std::optional<double> as_number() const override {
    if (auto i = node_.as_integer()) return static_cast<double>(i->get());
    if (auto d = node_.as_floating_point()) return d->get();
    return std::nullopt;
  }
  std::optional<std::string> as_string() const override {
    if (auto s = node_.as_string()) return s->get();
    return std::nullopt;
  }
  std::optional<std::vector<int64_t>> as_int_list() const override {
    auto array = node_.as_array();
    if (!array) return std::nullopt;
    std::vector<int64_t> values;
    for (const auto& element : *array) {
      auto i = element.as_integer();
      if (!i) return std::nullopt;
      values.push_back(i->get());
    }
    return values;
  }
  std::string describe() const override { return describe_node(node_); }

 private:
  const toml::node& node_;
};

// Flattens a table of config keys ("[base]", "[variants.x]") into overrides.
void collect_overrides(const toml::table& table, const std::string& prefix, const std::string& where,
                       const FileErrors& errors, Overrides& out) {
  for (const auto& [name, node] : table) {
    const std::string key_name = prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (auto sub = node.as_table()) {
      collect_overrides(*sub, key_name, where, errors, out);
      continue;
    }
    if (prefix.empty() && key_name == "stages") continue;  // read by read_stages()
    const ConfigKey* key = nullptr;
    try {
      key = &find_config_key(key_name);
    } catch (const std::invalid_argument& unknown) {
      errors.fail(&node, where, unknown.what());
    }
    try {  // converted and checked now, so that the error can point at this line
      out.emplace_back(key_name, to_config_value(*key, TomlLiteral(node)));
    } catch (const std::invalid_argument& wrong_type) {
      errors.fail(&node, where, fmt::format("{}: {}", key_name, wrong_type.what()));
    }
  }
}

std::vector<int64_t> read_seeds(const toml::node* node, const FileErrors& errors) {
  if (!node) return {0};
  auto array = node->as_array();
  if (!array || array->empty()) errors.fail(node, "seeds", "expected a non-empty list of integers");
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
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '=' || c == ',' ||
           c == '+';
  });
}

// Stage names label metrics.csv rows (a comma-separated file), so they take
// fewer characters than variant names: no ',' '=' '+'.
bool valid_stage_name(const std::string& name) {
  return valid_variant_name(name) && name.find_first_of(",=+") == std::string::npos;
}

// The stage's bn_stats setting: whether BN layers keep their running statistics.
enum class BnStatsMode { kUpdate, kFrozen };
const EnumNames<BnStatsMode>& enum_names(BnStatsMode) {
  static const EnumNames<BnStatsMode> names = {{BnStatsMode::kUpdate, "update"}, {BnStatsMode::kFrozen, "frozen"}};
  return names;
}

// A stage's own key whose value is one of an enum's names.
template <typename E>
E read_choice(const toml::table& table, const std::string& key, E fallback, const std::string& where,
              const FileErrors& errors) {
  const toml::node* node = table.get(key);
  if (!node) return fallback;
  auto text = node->as_string();
  const auto value = text ? from_name<E>(text->get()) : std::nullopt;
  if (!value)
    errors.fail(
        node, where,
        fmt::format("{}: must be one of {}, got {}", key, fmt::join(all_names<E>(), ", "), describe_node(*node)));
  return *value;
}

StageSpec read_stage(const toml::table& table, const std::string& where, const FileErrors& errors) {
  StageSpec stage;
  const toml::node* name = table.get("name");
  if (!name || !name->is_string() || !valid_stage_name(name->as_string()->get()))
    errors.fail(name ? name : &table, where, "every stage needs a name (letters, digits, - _ .)");
  stage.name = name->as_string()->get();
  stage.action = read_choice(table, "action", StageAction::kTrain, where, errors);
  stage.trainable = read_choice(table, "trainable", models::ParamGroup::kAll, where, errors);
  stage.freeze_bn_stats = read_choice(table, "bn_stats", BnStatsMode::kUpdate, where, errors) == BnStatsMode::kFrozen;
  toml::table config_keys;
  for (const auto& [key, node] : table)
    if (key.str() != "name" && key.str() != "action" && key.str() != "trainable" && key.str() != "bn_stats")
      config_keys.insert(key, node);
  collect_overrides(config_keys, "", where + " (stage " + stage.name + ")", errors, stage.overrides);
  return stage;
}

std::vector<StageSpec> read_stages(const toml::table& owner, const std::string& where, const FileErrors& errors) {
  const toml::node* node = owner.get("stages");
  if (!node) return {};
  auto array = node->as_array();
  if (!array || array->empty() || !array->is_array_of_tables())
    errors.fail(node, where, "stages: expected [[...stages]] tables");
  std::vector<StageSpec> stages;
  for (const auto& element : *array) {
    stages.push_back(read_stage(*element.as_table(), where + ".stages", errors));
    for (size_t i = 0; i + 1 < stages.size(); ++i)
      if (stages[i].name == stages.back().name)
        errors.fail(&element, where, fmt::format("stage name '{}' used twice", stages.back().name));
  }
  return stages;
}

// Grid axes in file order; each value converted and range-checked for its key.
void read_grid(const toml::table& table, const std::string& prefix, const FileErrors& errors,
               std::vector<std::pair<toml::source_index, GridAxis>>& axes) {
  for (const auto& [name, node] : table) {
    const std::string key = prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (auto sub = node.as_table()) {  // dotted keys (train.lr = [...]) arrive as nested tables
      read_grid(*sub, key, errors, axes);
      continue;
    }
    auto array = node.as_array();
    if (!array || array->empty())
      errors.fail(&node, "grid", fmt::format("{}: expected a non-empty list of values", key));
    const ConfigKey* config_key = nullptr;
    try {
      config_key = &find_config_key(key);
    } catch (const std::invalid_argument& unknown) {
      errors.fail(&node, "grid", unknown.what());
    }
    GridAxis axis{key, {}};
    for (const auto& element : *array) {
      try {
        axis.values.push_back(to_config_value(*config_key, TomlLiteral(element)));
      } catch (const std::invalid_argument& bad) {
        errors.fail(&element, "grid", fmt::format("{}: {}", key, bad.what()));
      }
    }
    axes.emplace_back(node.source().begin.line, std::move(axis));
  }
}

std::vector<GridAxis> read_grid(const toml::node& node, const FileErrors& errors) {
  if (!node.is_table()) errors.fail(&node, "grid", "expected a table ([grid])");
  std::vector<std::pair<toml::source_index, GridAxis>> found;
  read_grid(*node.as_table(), "", errors, found);
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<GridAxis> axes;
  for (auto& [line, axis] : found) axes.push_back(std::move(axis));
  return axes;
}

// Named variants (or the base alone) crossed with the grid's points.
std::vector<Variant> expand_grid(const std::vector<Variant>& variants, const std::vector<GridAxis>& axes) {
  if (axes.empty()) return variants;
  const std::vector<Variant> named = variants.empty() ? std::vector<Variant>{{"", {}, {}}} : variants;
  std::vector<Variant> expanded;
  for (const auto& variant : named)
    for (const auto& point : grid_points(axes)) {
      Variant v = variant;
      v.name = variant.name.empty() ? grid_point_name(point) : variant.name + "," + grid_point_name(point);
      v.overrides.insert(v.overrides.end(), point.begin(), point.end());
      expanded.push_back(std::move(v));
    }
  return expanded;
}

}  // namespace
Experiment load_experiment_file(const fs::path& file) {
  const FileErrors errors(file);
  if (!fs::exists(file)) errors.fail(nullptr, "file", "not found");
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& error) {
    throw InputError(
        fmt::format("{}:{}: TOML syntax error: {}", file.string(), error.source().begin.line, error.description()));
  }

  Experiment experiment;
  std::vector<toml::source_index> variant_lines;  // toml++ sorts keys; keep the file's order
  std::vector<GridAxis> grid;
  std::vector<StageSpec> shared_stages;
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
        Variant variant{vname, {}, {}};
        collect_overrides(*variant_node.as_table(), "", "variants." + vname, errors, variant.overrides);
        variant.stages = read_stages(*variant_node.as_table(), "variants." + vname, errors);
        experiment.variants.push_back(std::move(variant));
        variant_lines.push_back(variant_node.source().begin.line);
      }
    } else if (key == "grid") {
      grid = read_grid(node, errors);
    } else if (key == "stages") {
      shared_stages = read_stages(root, "stages", errors);
    } else {
      errors.fail(&node, key, "unknown top-level key (expected description, seeds, base, variants, grid, stages)");
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
  for (auto& variant : experiment.variants)
    if (variant.stages.empty()) variant.stages = shared_stages;
  experiment.variants = expand_grid(experiment.variants, grid);
  if (experiment.variants.empty()) experiment.variants.push_back({"default", {}, shared_stages});

  // Every variant (and stage) must resolve to a valid config now, not hours into a sweep.
  for (const auto& variant : experiment.variants) {
    try {
      experiment.stages_for(variant);
    } catch (const std::invalid_argument& error) {
      errors.fail(nullptr, variant.name == "default" ? "base" : "variants." + variant.name, error.what());
    }
  }
  return experiment;
}

}  // namespace bnlab::experiments

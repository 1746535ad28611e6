#pragma once
// Grids: the cartesian product of values of several config keys, expanded
// into variants named after their point ("lr=0.1,norm=custom").
#include <string>
#include <vector>

#include "experiments/resolve.h"

namespace bnlab::experiments {

struct GridAxis {
  std::string key;  // a config key, e.g. "train.lr"
  std::vector<ConfigValue> values;
};

// Every point of the product, first axis outermost, as overrides.
std::vector<Overrides> grid_points(const std::vector<GridAxis>& axes);

// "lr=0.1,norm=custom": keys by their last component when no other config key
// shares it (else in full: "train.momentum=0.9"), lists joined with '-'.
std::string grid_point_name(const Overrides& point);

}  // namespace bnlab::experiments

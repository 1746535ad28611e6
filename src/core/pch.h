// Precompiled header: only heavy, stable third-party headers belong here.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

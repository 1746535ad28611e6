// Precompiled header: only heavy, stable third-party headers belong here.
#pragma once
#include <torch/torch.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

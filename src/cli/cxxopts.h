#pragma once
// cxxopts splits vector option values on ',' by default, which would break
// `--set model.hidden=128,64` and grid variant names ("lr=0.1,norm=custom");
// repeated flags are the way to give several values.
#define CXXOPTS_VECTOR_DELIMITER '\x1f'
#include <cxxopts.hpp>

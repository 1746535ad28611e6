#pragma once
#include <stdexcept>

namespace bnlab {

// Input from the user that cannot be used: a bad value in an experiment
// file, an option or an environment variable. Library code throws it where
// it meets such input; every command then exits with 2 (the README's exit
// codes), with the message naming the file, key or option and the value.
class InputError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace bnlab

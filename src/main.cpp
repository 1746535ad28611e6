#include "cli/command.h"

int main(int argc, char** argv) { return bnlab::cli::dispatch(argc, argv); }

// Subcommands. Each takes the loaded configuration, does its work and returns the process
// exit code (0 success, 1 failure, 2 bad usage or configuration), printing a one-line,
// actionable error on failure.
#pragma once

#include "config/config.h"

namespace pg2iceberg::cli {

int RunConfig(const config::Config& cfg);

}  // namespace pg2iceberg::cli

// `status [--wait] [--json]`: the pipeline's state for an operator (see status.cc).
#pragma once

#include <chrono>

#include "config/config.h"

namespace pg2iceberg::cli {

struct StatusOptions {
  bool wait = false;  // block until everything committed before the call is in Iceberg
  std::chrono::seconds timeout{300};
  bool json = false;  // machine-readable output
};

// Exit code 0, or 1 when the state cannot be read or the wait fails (timeout, or no live
// process advancing the pipeline).
int RunStatus(const config::Config& cfg, const StatusOptions& options);

}  // namespace pg2iceberg::cli

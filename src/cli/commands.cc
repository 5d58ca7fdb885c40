#include "cli/commands.h"

#include <cstdio>

namespace pg2iceberg::cli {

int RunConfig(const config::Config& cfg) {
  std::fputs(cfg.Redacted().c_str(), stdout);
  return 0;
}

}  // namespace pg2iceberg::cli

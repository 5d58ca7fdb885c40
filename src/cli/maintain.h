// `maintain`: snapshot expiry and orphan cleanup of every configured table, then exit
// (docs/maintenance.md). Runs next to a live `run` (it is one more writer of the catalog and
// commits only snapshot removals); needs no ownership of the pipeline.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace pg2iceberg::cli {

struct MaintainOptions {
  std::vector<std::string> tables;  // configured tables to maintain; empty: all
  std::string retention;            // overrides sink.maintenance_retention; empty: the config's
  int retain_last = 1;              // snapshots of main's history always kept
  bool dry_run = false;             // list what would be removed, change nothing
};

// Exit code: 0 done (also when a phase is off), 1 a table failed (the others were still
// maintained), 2 bad options.
int RunMaintain(const config::Config& cfg, const MaintainOptions& options);

}  // namespace pg2iceberg::cli

// The composition root of the logical pipeline: turns a Config into concrete backends
// (PostgreSQL source and coordinator, object storage, SQL or REST catalog) and runs the WAL
// writer and the materializer. Only this folder picks concrete implementations.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "config/config.h"

namespace pg2iceberg::cli {

inline constexpr const char* kVersion = "0.1.0";

// `run` (logical mode): WAL writer and materializer until `stop` becomes true, then a final
// flush and materialize. Returns the process exit code.
int RunPipeline(const config::Config& cfg, const std::atomic<bool>& stop);
// `snapshot`: the initial copy of every table not yet copied (creating the slot first), then
// materialize it and exit; "OK: snapshot already complete" when there is nothing to do.
int RunSnapshotCommand(const config::Config& cfg, const std::atomic<bool>& stop);
// `stream-only`: the WAL writer alone.
int RunStreamOnly(const config::Config& cfg, const std::atomic<bool>& stop);

struct WorkerOptions {
  std::string worker_id;
  std::chrono::seconds ttl{30};
};
// `materializer-only --worker-id ID` (distributed mode): a materializer worker next to one
// `stream-only`; each cycle it heartbeats in state.group and materializes its share of the
// tables among the live workers (pipeline::AssignTables). Refused next to a `run` (which
// materializes every table itself) and when another worker holds the same id.
int RunMaterializerOnly(const config::Config& cfg, const std::atomic<bool>& stop,
                        const WorkerOptions& worker);
int RunMigrateCoord(const config::Config& cfg);
int RunCleanup(const config::Config& cfg);
// `resync --table T…`: marks each table's copy to be redone (coordinator RequestResync); the
// running pipeline copies it while the other tables stream, and the copy replaces the Iceberg
// table's content. Exit 2 for a table that is not configured, 1 when one cannot be resynced.
int RunResync(const config::Config& cfg, const std::vector<std::string>& tables);

}  // namespace pg2iceberg::cli

// The composition root of the logical pipeline: turns a Config into concrete backends
// (PostgreSQL source and coordinator, object storage, SQL or REST catalog) and runs the WAL
// writer and the materializer. Only this folder picks concrete implementations.
#pragma once

#include <atomic>

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
int RunMigrateCoord(const config::Config& cfg);
int RunCleanup(const config::Config& cfg);

}  // namespace pg2iceberg::cli

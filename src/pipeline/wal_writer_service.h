// The WAL writer service: a stage::WalWriter joined to the rest of the pipeline — the tables'
// shapes and the visibility of a transaction asked of the source (SourceCatalog), markers
// recorded in the coordinator, a table whose rows changed outside logical replication copied
// again (a resync and a new attempt) — and its loop: receive and flush until the attempt stops,
// then flush what it holds.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/config.h"
#include "coord/coordinator.h"
#include "pipeline/source_catalog.h"
#include "pipeline/supervisor.h"
#include "stage/wal_writer.h"

namespace pg2iceberg::pipeline {

// The WAL writer's `rediscover`: a configured table's shape from the source now.
stage::WalWriter::Rediscover RediscoverFrom(SourceCatalog* source,
                                            std::vector<config::TableConfig> tables);

// Records a marker the WAL writer met in the coordinator (for every configured table); a
// marker id used before is ignored with a warning.
Status RecordMarker(coord::Coordinator& coord, const std::vector<config::TableConfig>& tables,
                    const std::string& id, Lsn lsn);

class WalWriterService {
 public:
  // Sets `writer`'s hooks. `request_restart` is called when a table must be copied again.
  WalWriterService(stage::WalWriter* writer, coord::Coordinator* coord, SourceCatalog* source,
                   std::vector<config::TableConfig> tables, std::function<void()> request_restart);

  // One turn: receives for up to `wait`, then flushes if a trigger fired.
  Status Step(std::chrono::milliseconds wait) { return writer_->Step(wait); }
  // Until `sup` stops, then flushes what it holds; `on_step` after every turn.
  Status Run(const Supervisor& sup, const std::function<void()>& on_step);

 private:
  stage::WalWriter* writer_;
};

}  // namespace pg2iceberg::pipeline

// Query mode's source service: `connections` lanes, each with one source connection, poll their
// share of the tables (table i goes to lane i % connections), each table when it is due.
//
// A table whose initial copy is not complete is copied first, on its lane, through the chunked
// snapshot (snapshot/snapshotter.h) under a snapshot exported by a REPEATABLE READ transaction.
// In that same transaction the fence is read: the largest (watermark, key) in the snapshot,
// where polling starts; and the snapshot's oldest running transaction. The fence is recorded
// before the copy starts; once the copy is in and every transaction running at the snapshot has
// ended, the rows at or before the fence written by transactions no older than it (what the
// copy may have missed, committed late with an older watermark) are read once more.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "coord/coordinator.h"
#include "io/file_io.h"
#include "pg/connection.h"
#include "pipeline/supervisor.h"
#include "query/poller.h"

namespace pg2iceberg::query {

struct QueryTable {
  PolledTable table;
  PollerOptions options;
  bool copy = false;  // the initial copy is not complete: copy it first
};

struct QueryServiceOptions {
  std::function<Result<std::unique_ptr<pg::Connection>>()> connect;
  std::function<Result<std::unique_ptr<coord::Coordinator>>()> coordinator;
  std::shared_ptr<io::FileIO> io;
  std::string staging_uri;
  int connections = 2;
  // The initial copy (source.logical.snapshot_*: the same chunked copy as logical mode).
  int copy_concurrency = 2;
  int64_t copy_chunk_pages = 2048;
};

// Lane `lane` of `lanes` until `sup` stops; `beat` after each round of due tables.
Status RunQueryLane(const QueryServiceOptions& o, const std::vector<QueryTable>& tables, int lane,
                    int lanes, pipeline::Supervisor& sup, const std::function<void()>& beat);

// Copies `t` as of one exported snapshot and records the fence its polling starts after.
// `beat` (may be empty) is called about once a second while the copy runs (a liveness beat:
// a copy of a large table takes longer than the lane's health deadline).
Status CopyTable(const QueryServiceOptions& o, const QueryTable& t, coord::Coordinator& coord,
                 const std::atomic<bool>* stop, const std::function<void()>& beat = {});

}  // namespace pg2iceberg::query

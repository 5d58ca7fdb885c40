// The materializer service: cycles of materialize::Materializer over every configured table,
// and what the pipeline does around each cycle —
//   - a heartbeat of the pipeline's group in the coordinator;
//   - the cycle's commits (and the markers reached) recorded in the meta tables, when there are
//     any (a failure there is logged and counted: the data commits stand);
//   - a configured table dropped or renamed stops the pipeline with what to do; one dropped and
//     re-created is added to the publication and copied again (a resync and a new attempt);
//   - a table whose copy is to be redone that this attempt does not copy asks for a new attempt;
//   - the pending-changes gauge, and the key indexes checkpointed now and then.
// Run repeats cycles at the interval until the attempt stops; its last cycle follows the end of
// the service it follows (the WAL writer: what it flushed on its way out is committed).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "config/config.h"
#include "coord/coordinator.h"
#include "stage/wal_writer.h"
#include "materialize/materializer.h"
#include "pipeline/source_catalog.h"
#include "pipeline/supervisor.h"
#include "upkeep/meta_tables.h"

namespace pg2iceberg::pipeline {

struct MaterializerServiceOptions {
  std::string group = "default";  // the pipeline's group (heartbeat, cursors)
  std::vector<config::TableConfig> tables;
  // Markers reached are recorded in the meta tables (a markers table is configured).
  bool record_markers = false;
  // A cycle starts at once when a table has this many changes staged past its cursor.
  int64_t max_changes = 100'000;
  Clock::Duration interval = std::chrono::seconds(10);
  // Whether this attempt copies `table` now (its copy is not to be asked for again).
  std::function<bool(const std::string& table)> copying;
  // The id this process heartbeats under in the group.
  std::string worker = "run";
  // A materializer-only worker (distributed mode): each cycle materializes only its share of
  // the tables among the group's workers whose heartbeat is younger than this (AssignTables),
  // and leaves the table checks and copies to the process that owns the slot (its process
  // also beats with WorkerHeartbeats, and leaves with LeaveGroup).
  std::optional<std::chrono::seconds> worker_ttl;
  // Lanes: a process materializes its tables on `lanes` services at once (its own
  // connections each), this one taking the tables of LaneOf(table, lanes) == `lane` (after a
  // worker's share). A table stays in its lane whatever the share, so its key index is only
  // ever opened by one lane. Each lane checks and reports only its tables.
  int lane = 0;
  int lanes = 1;
  // Called after a cycle for each table it committed to (commit notifications look at once).
  std::function<void(const std::string& table)> on_commit;
  // In `run`, the WAL writer of this process. While it holds committed changes or flushed
  // some since a cycle started, the next cycle starts as soon as half the interval has passed
  // since, and first has the writer stage what it holds: a change is visible about half an
  // interval after its commit (not up to a flush interval plus a whole one). Without it
  // (materializer-only workers), cycles follow the interval.
  stage::FlushRequests* pull = nullptr;
};

// The lane of `table` among `lanes` (a stable hash of its name).
int LaneOf(const std::string& table, int lanes);

// The tables worker `me` materializes: the tables sorted, the live workers sorted, table i to
// worker i mod N. Every worker computes the same assignment from the same heartbeats; none
// when `me` is not among the live workers.
std::vector<std::string> AssignTables(std::vector<std::string> tables,
                                      std::vector<std::string> live, const std::string& me);

// What one cycle did.
struct MaterializerCycle {
  std::map<std::string, materialize::TableResult> results;
  bool more = false;     // a batch was bounded: the next cycle should start at once
  bool restart = false;  // a table is to be copied: the attempt should start again
};

// Rows of the `commits` meta table for a cycle's results (tables committed to in it), buffered
// unless `force`; with `markers_from`, the markers the materializer reached that the meta table
// `markers` lacks (at least once: what a crash kept out is appended the next time). A failure is
// logged and counted: the data commits stand. Nothing without `meta`.
void RecordCommits(upkeep::MetaTables* meta, const materialize::Materializer& m,
                   const std::map<std::string, materialize::TableResult>& results, bool force,
                   coord::Coordinator* markers_from = nullptr);

// A worker's heartbeat, every third of `ttl` until `sup` stops, on its own coordinator
// connection: a worker busy with a long cycle stays live for the others (its lanes beat at every
// cycle too).
Status WorkerHeartbeats(coord::Coordinator& coord, const Supervisor& sup, const std::string& group,
                        const std::string& worker, std::chrono::seconds ttl);
// A graceful leave, once the worker's services have ended: its heartbeat is removed, so the
// others take its tables on their next cycle.
void LeaveGroup(coord::Coordinator& coord, const std::string& group, const std::string& worker);

class MaterializerService {
 public:
  // `meta` may be null (no meta tables).
  MaterializerService(coord::Coordinator* coord, materialize::Materializer* materializer,
                      SourceCatalog* source, upkeep::MetaTables* meta,
                      MaterializerServiceOptions options);

  // One cycle. `ending`: the attempt ends after it (the meta tables get what they buffer now).
  Result<MaterializerCycle> Cycle(bool ending);
  // Cycles until `sup` stops (then one last cycle, once service `follows` has ended, or at
  // once when `follows` is empty);
  // `on_cycle` after every cycle (health).
  Status Run(Supervisor& sup, const std::string& follows, const std::function<void()>& on_cycle);
  // Records what the meta tables still buffer and checkpoints the key indexes (unless the
  // attempt failed): the end of Run.
  void Finish(bool failed);
  // The tables of the last cycle.
  const std::vector<std::string>& assigned() const { return assigned_; }

 private:
  void RecordCommits(const std::map<std::string, materialize::TableResult>& results, bool force);
  Status RecordPending();
  // This cycle's tables: this lane's of Share().
  Result<std::vector<std::string>> Assign();
  // All the tables, or a worker's share.
  Result<std::vector<std::string>> Share();
  // Waits for the interval, or less when a table has a full batch staged or `done`.
  Status WaitForWork(const Supervisor& sup, const MaterializerCycle& cycle,
                     const std::function<bool()>& done);
  // Has the WAL writer (pull) stage what it holds, waiting up to a second for it.
  void PullStaged(const Supervisor& sup);
  // When the last cycle started, and the WAL writer's flushes then.
  Clock::MonoTime cycle_started_{};
  uint64_t flushes_at_start_ = 0;

  coord::Coordinator* coord_;
  materialize::Materializer* m_;
  SourceCatalog* source_;
  upkeep::MetaTables* meta_;
  MaterializerServiceOptions o_;
  std::vector<std::string> names_;
  std::vector<std::string> assigned_;
  std::vector<std::string> share_;  // a worker's last share (logged when it changes)
  bool records_markers_ = true;      // a worker: the first live one of its group
};

}  // namespace pg2iceberg::pipeline

// Compaction of one Iceberg table: the live data files of a partition are read with the
// deletes that apply to them, and rewritten into files of about `target_file_size`; delete
// files that then apply to no live data file are dropped; one `replace` commit swaps them.
//
// Correct against concurrent commits (the materializer's, another engine's):
//   - The new files keep the data sequence number of the snapshot the rewrite read, so an
//     equality delete committed meanwhile (a higher sequence number) still applies to them.
//   - A rewritten file removed meanwhile (a TRUNCATE, a resync's replacing copy, another
//     compaction) makes the commit fail with kAborted: the rewrite is planned again.
//   - A position delete or deletion vector added meanwhile (the materializer deleting rows of
//     a rewritten file, another engine) is carried to where the rewrite put those rows: the
//     commit adds it for the new files (and removes a deletion vector of a replaced file), so
//     a stream of deletes does not make every plan fail.
// Position deletes and deletion vectors are applied to the rows they delete, and dropped once
// every data file they reach is rewritten. Not thread-safe; one compaction per table at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "io/file_io.h"

namespace pg2iceberg::upkeep {

struct CompactionOptions {
  int64_t target_file_size = int64_t{128} << 20;
  // A partition is compacted once it has this many data files smaller than the target
  // (sink.compaction_data_files) or this many delete files that apply to it
  // (sink.compaction_delete_files).
  int min_data_files = 8;
  int min_delete_files = 4;
  // Compact every partition with more than one data file or any delete (`compact --all`).
  bool all = false;
  // Plans attempted when concurrent commits invalidate one.
  int max_plans = 3;
  // Writing longer than this (0: no limit) abandons the rewrite (kFailedPrecondition) before
  // it commits: `maintain` deletes unreferenced files older than sink.maintenance_grace, and
  // the first files of a long rewrite would be such files until its commit. Set to half the
  // grace.
  std::chrono::steady_clock::duration max_write_time{0};
  // Checked between files: once true the compaction stops with kCancelled, committing nothing.
  const std::atomic<bool>* cancel = nullptr;
  // When set, the commit attempts run in the table's commit turn (coord::Coordinator::
  // TakeCommitTurn, by Iceberg identifier), so that a materializer committing continuously
  // does not beat every attempt; a turn that does not come (false, an error) is not waited
  // for again.
  std::function<Result<bool>(const std::string& ident)> take_commit_turn;
  std::function<void(const std::string& ident)> end_commit_turn;
};

struct CompactionResult {
  int partitions = 0;              // partitions rewritten
  int64_t data_files_read = 0;     // data files replaced
  int64_t data_files_written = 0;
  int64_t delete_files_removed = 0;
  int64_t rows_read = 0;
  int64_t rows_written = 0;        // rows_read minus the deleted ones
  int64_t bytes_read = 0;
  int64_t bytes_written = 0;
  int64_t snapshot_id = -1;        // the replace commit (-1: nothing to do)
  int64_t deletes_carried = 0;     // rows deleted meanwhile by position, carried to new files
  std::string skipped;             // why the table was not compacted, if it was not
};

// Compacts the table `ident` once. kCommitStateUnknown leaves the written files in place
// (they may be committed); any other failure deletes them.
Result<CompactionResult> CompactTable(catalog::Catalog& catalog, std::shared_ptr<io::FileIO> io,
                                      const catalog::TableIdent& ident,
                                      const CompactionOptions& options, Clock* clock = nullptr);

}  // namespace pg2iceberg::upkeep

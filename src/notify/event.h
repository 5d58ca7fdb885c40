// Commit notifications (docs/notifications.md): one event per Iceberg snapshot of a replicated
// table, derived from the table's metadata alone, so that a restart after a crash finds every
// commit it had not announced yet. The LSN range comes from the summary keys the materializer
// writes (kLsnMinKey, kLsnMaxKey); commits that carry none (a compaction, another engine's)
// have it empty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "iceberg/metadata.h"

namespace pg2iceberg::notify {

// Snapshot summary keys: the smallest and largest commit LSN of the source transactions a
// materializer commit holds.
inline constexpr char kLsnMinKey[] = "pg2iceberg.lsn-min";
inline constexpr char kLsnMaxKey[] = "pg2iceberg.lsn-max";

struct CommitEvent {
  std::string table;          // the configured source table (schema.table)
  std::string iceberg_table;  // namespace.name
  int64_t snapshot_id = 0;
  std::optional<int64_t> parent_snapshot_id;
  int64_t sequence_number = 0;
  std::string operation;  // the summary's: append, overwrite, delete, replace
  int64_t rows_added = 0;    // rows in the data files the commit added
  int64_t rows_deleted = 0;  // rows of removed data files, plus position and equality deletes added
  std::string lsn_min, lsn_max;  // empty when the commit carries no LSN range
  int64_t commit_time_ms = 0;

  // The JSON document sent (one line): the fields above plus "event_id" (the snapshot id as
  // text, the receiver's idempotency key) and "commit_time" (ISO 8601, UTC).
  std::string ToJson() const;
};

// The snapshots of `metadata` with a sequence number above `after_sequence` and committed at or
// after `since_ms`, as events in commit (sequence) order.
std::vector<CommitEvent> EventsAfter(const iceberg::TableMetadata& metadata,
                                     int64_t after_sequence, int64_t since_ms,
                                     const std::string& table, const std::string& iceberg_table);

}  // namespace pg2iceberg::notify

#include "notify/event.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pg2iceberg::notify {
namespace {

iceberg::Snapshot SnapshotOf(int64_t id, int64_t seq, int64_t ts,
                             std::map<std::string, std::string> summary) {
  iceberg::Snapshot s;
  s.snapshot_id = id;
  s.sequence_number = seq;
  s.timestamp_ms = ts;
  if (seq > 1) s.parent_snapshot_id = id - 1;
  s.summary = std::move(summary);
  return s;
}

TEST(EventTest, SnapshotsAfterAPositionBecomeEventsInCommitOrder) {
  iceberg::TableMetadata m;
  // Listed out of order: events follow the sequence numbers.
  m.snapshots = {
      SnapshotOf(12, 3, 3000, {{"operation", "overwrite"}, {"added-records", "2"},
                               {"added-position-deletes", "1"}, {kLsnMinKey, "0/30"},
                               {kLsnMaxKey, "0/38"}}),
      SnapshotOf(10, 1, 1000, {{"operation", "append"}, {"added-records", "5"}}),
      SnapshotOf(11, 2, 2000, {{"operation", "replace"}, {"added-records", "5"},
                               {"deleted-records", "5"}}),
  };
  std::vector<CommitEvent> all = EventsAfter(m, 0, 0, "public.t", "default.t");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].snapshot_id, 10);
  EXPECT_EQ(all[1].snapshot_id, 11);
  EXPECT_EQ(all[2].snapshot_id, 12);
  EXPECT_EQ(all[1].rows_deleted, 5);
  EXPECT_EQ(all[2].rows_added, 2);
  EXPECT_EQ(all[2].rows_deleted, 1);
  EXPECT_EQ(all[2].lsn_min, "0/30");
  EXPECT_EQ(all[0].lsn_min, "");

  EXPECT_EQ(EventsAfter(m, 2, 0, "public.t", "default.t").size(), 1u);
  // Commits before the sink was configured are not announced.
  EXPECT_EQ(EventsAfter(m, 0, 2000, "public.t", "default.t").size(), 2u);
}

TEST(EventTest, TheJsonCarriesTheIdempotencyKeyAndTheCommit) {
  CommitEvent e;
  e.table = "public.orders";
  e.iceberg_table = "cdc.public_orders";
  e.snapshot_id = 7254;
  e.sequence_number = 4;
  e.operation = "overwrite";
  e.rows_added = 3;
  e.lsn_min = "0/16B3748";
  e.lsn_max = "0/16B3800";
  e.commit_time_ms = 1765000000123;
  nlohmann::json j = nlohmann::json::parse(e.ToJson());
  EXPECT_EQ(j["event_id"], "7254");
  EXPECT_EQ(j["snapshot_id"], 7254);
  EXPECT_TRUE(j["parent_snapshot_id"].is_null());
  EXPECT_EQ(j["table"], "public.orders");
  EXPECT_EQ(j["iceberg_table"], "cdc.public_orders");
  EXPECT_EQ(j["sequence_number"], 4);
  EXPECT_EQ(j["lsn_min"], "0/16B3748");
  EXPECT_EQ(j["commit_time"], "2025-12-06T05:46:40.123Z");
  EXPECT_EQ(j["commit_time_ms"], 1765000000123);
}

}  // namespace
}  // namespace pg2iceberg::notify

#include "snapshot/snapshotter.h"

#include <gtest/gtest.h>

#include "coord/memory_coordinator.h"

namespace pg2iceberg::snapshot {
namespace {

coord::StagedFile CopiedFile(const std::string& table, Lsn lsn) {
  static int n = 0;
  return coord::StagedFile{table, "mem://s/snapshot-" + std::to_string(++n) + ".parquet", 10, 100,
                           lsn, lsn, io::StagedKind::kSnapshot};
}

class ResumeCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(coord_.PutTable({"t", 1, false, Lsn()}).ok());
  }
  // A copy has two chunks; `done` holds the finished ones.
  static bool Whole(const std::vector<coord::SnapshotChunk>& done) { return done.size() == 2; }
  void Finish(int64_t start, Lsn lsn) {
    ASSERT_TRUE(coord_.ClaimSnapshotChunk({CopiedFile("t", lsn)},
                                          {"t", 0, start, start == 0 ? 8 : -1, 10, lsn})
                    .ok());
  }
  coord::MemoryCoordinator coord_{Clock::Real()};
};

TEST_F(ResumeCopyTest, ChunksOfTheSameSnapshotAreKept) {
  Finish(0, Lsn(100));
  auto r = ResumeCopy(coord_, "t", Lsn(100), Whole);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->chunks.size(), 1u);
  EXPECT_FALSE(r->complete);
  EXPECT_FALSE(coord_.GetMeta("resync_offset:t")->has_value());
}

// Rows of two snapshots are not one copy: the changes between them would be replayed over rows
// that hold them already (an unchanged TOAST value is then lost).
TEST_F(ResumeCopyTest, ACopyOfAnEarlierSnapshotStartsOver) {
  ASSERT_TRUE(coord_.ClaimOffsets({coord::StagedFile{"t", "mem://s/cdc.parquet", 4, 40, Lsn(120),
                                                     Lsn(130)}})
                  .ok());
  EXPECT_EQ(*coord_.DeferredFiles("t"), 1);
  Finish(0, Lsn(100));
  for (std::optional<Lsn> next : {std::optional<Lsn>(Lsn(200)), std::optional<Lsn>()}) {
    auto r = ResumeCopy(coord_, "t", next, Whole);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->chunks.empty());
    EXPECT_FALSE(r->complete);
    EXPECT_TRUE(coord_.SnapshotChunks("t")->empty());
    // What the old copy brought and the changes behind it (10 + 4 rows the first time) are
    // replaced from the offset after them.
    EXPECT_EQ(coord_.GetMeta("resync_offset:t")->value_or(""), next ? "14" : "24");
    EXPECT_EQ(*coord_.NextOffset("t"), next ? 14 : 24);
    EXPECT_EQ(*coord_.DeferredFiles("t"), 0);
    Finish(0, Lsn(100));
  }
}

TEST_F(ResumeCopyTest, ACompleteCopyWhoseMarkWasLostIsMarkedAtItsOwnLsn) {
  Finish(0, Lsn(100));
  Finish(8, Lsn(100));
  auto r = ResumeCopy(coord_, "t", std::nullopt, Whole);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->complete);
  auto state = coord_.GetTable("t");
  ASSERT_TRUE(state.ok() && state->has_value());
  EXPECT_TRUE((*state)->snapshot_complete);
  EXPECT_EQ((*state)->snapshot_lsn, Lsn(100));
}

TEST_F(ResumeCopyTest, AWholeCopyOfTwoSnapshotsStartsOver) {
  Finish(0, Lsn(100));
  Finish(8, Lsn(150));
  auto r = ResumeCopy(coord_, "t", std::nullopt, Whole);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->complete);
  EXPECT_TRUE(coord_.SnapshotChunks("t")->empty());
}

TEST(TemporarySlotNameTest, IsAValidUniqueSlotName) {
  const std::string a = TemporarySlotName("pg2iceberg_copy");
  const std::string b = TemporarySlotName(std::string(80, 'X') + "-y");
  EXPECT_NE(a, TemporarySlotName("pg2iceberg_copy"));
  EXPECT_EQ(a.rfind("pg2iceberg_copy_", 0), 0u) << a;
  for (const std::string& s : {a, b}) {
    EXPECT_LE(s.size(), 63u) << s;
    for (char c : s) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << s;
  }
}

}  // namespace
}  // namespace pg2iceberg::snapshot

// The start-up checks that decide from the coordinator's record, on the in-memory coordinator.
#include "pipeline/startup.h"

#include <gtest/gtest.h>

#include "base/clock.h"
#include "coord/memory_coordinator.h"

namespace pg2iceberg::pipeline {
namespace {

constexpr char kTable[] = "public.t";

config::TableConfig T(bool skip_snapshot = false) {
  config::TableConfig t;
  t.name = config::TableName{"public", "t"};
  t.skip_snapshot = skip_snapshot;
  return t;
}

class StartupTest : public ::testing::Test {
 protected:
  coord::TableState State() {
    auto s = coord_.GetTable(kTable);
    EXPECT_TRUE(s.ok() && s->has_value());
    return s.ok() && s->has_value() ? **s : coord::TableState{};
  }
  FakeClock clock_;
  coord::MemoryCoordinator coord_{&clock_};
};

TEST_F(StartupTest, AGenerationIsCreatedOnceAndLegacyForAnOlderCoordinator) {
  ASSERT_TRUE(EnsureGeneration(coord_).ok());
  auto first = coord_.GetMeta("generation");
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_NE(**first, "legacy");
  ASSERT_TRUE(EnsureGeneration(coord_).ok());
  EXPECT_EQ(*coord_.GetMeta("generation"), *first);

  coord::MemoryCoordinator older(&clock_);
  ASSERT_TRUE(older.SetMeta("system_identifier", "123").ok());
  ASSERT_TRUE(EnsureGeneration(older).ok());
  EXPECT_EQ(older.GetMeta("generation")->value_or(""), "legacy");
}

TEST_F(StartupTest, AnotherWarehouseIsRefusedWithWhatToDo) {
  ASSERT_TRUE(CheckWarehouse(coord_, "s3://bucket/wh/").ok());
  EXPECT_TRUE(CheckWarehouse(coord_, "s3://bucket/wh").ok());
  Status s = CheckWarehouse(coord_, "s3://other/wh");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("set sink.warehouse back to s3://bucket/wh"), std::string::npos);
}

TEST_F(StartupTest, ANewTableIsTrackedForItsFirstCopy) {
  ASSERT_TRUE(TrackTable(coord_, T(), 100).ok());
  EXPECT_EQ(State().relid, 100u);
  EXPECT_FALSE(State().snapshot_complete);
  // Tracking it again changes nothing.
  ASSERT_TRUE(TrackTable(coord_, T(), 100).ok());
  EXPECT_EQ(State().relid, 100u);
}

TEST_F(StartupTest, ATableRecreatedWhileStoppedIsCopiedAgain) {
  ASSERT_TRUE(coord_.PutTable({kTable, 100, true, Lsn(0x10)}).ok());
  ASSERT_TRUE(TrackTable(coord_, T(), 200).ok());
  EXPECT_EQ(State().relid, 200u);
  EXPECT_FALSE(State().snapshot_complete);
  auto offset = coord_.GetMeta(std::string("resync_offset:") + kTable);
  ASSERT_TRUE(offset.ok());
  EXPECT_TRUE(offset->has_value());
}

TEST_F(StartupTest, ARecreatedTableWithSkipSnapshotOnlyFollowsTheNewOid) {
  ASSERT_TRUE(coord_.PutTable({kTable, 100, true, Lsn(0x10)}).ok());
  ASSERT_TRUE(TrackTable(coord_, T(/*skip_snapshot=*/true), 200).ok());
  EXPECT_EQ(State().relid, 200u);
  EXPECT_TRUE(State().snapshot_complete);
}

TEST_F(StartupTest, ACopyToRedoAskedForWhileItRanStartsOver) {
  ASSERT_TRUE(coord_.PutTable({kTable, 100, false, Lsn()}).ok());
  ASSERT_TRUE(coord_.SetMeta(coord::RedoCopyKey(kTable), "1").ok());
  ASSERT_TRUE(TrackTable(coord_, T(), 100).ok());
  auto redo = coord::CopyToRedo(coord_, kTable);
  ASSERT_TRUE(redo.ok());
  EXPECT_FALSE(*redo);
  auto offset = coord_.GetMeta(std::string("resync_offset:") + kTable);
  ASSERT_TRUE(offset.ok());
  EXPECT_TRUE(offset->has_value());
}

TEST_F(StartupTest, ACopiedTableThatLeftThePublicationIsRefused) {
  auto none = [](const config::TableName&) -> Result<bool> { return false; };
  // Not copied yet: it is added to the publication before its copy.
  ASSERT_TRUE(coord_.PutTable({kTable, 100, false, Lsn()}).ok());
  EXPECT_TRUE(CheckStillPublished(coord_, {T()}, "pub", "_pg2i", none).ok());
  ASSERT_TRUE(coord_.PutTable({kTable, 100, true, Lsn(0x10)}).ok());
  Status s = CheckStillPublished(coord_, {T()}, "pub", "_pg2i", none);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("left publication pub"), std::string::npos);
  EXPECT_NE(s.message().find("DELETE FROM \"_pg2i\".tables WHERE table_name = 'public.t'"),
            std::string::npos);
  EXPECT_TRUE(CheckStillPublished(coord_, {T()}, "pub", "_pg2i",
                                  [](const config::TableName&) -> Result<bool> { return true; })
                  .ok());
}

TEST(CheckSlotTest, AGoneOrAdvancedSlotIsRefused) {
  EXPECT_TRUE(CheckSlot("s", std::nullopt, std::nullopt).ok());
  EXPECT_TRUE(CheckSlot("s", Lsn(0x10), std::nullopt).ok());
  EXPECT_TRUE(CheckSlot("s", Lsn(0x10), Lsn(0x10)).ok());
  EXPECT_TRUE(CheckSlot("s", Lsn(0x10), Lsn(0x20)).ok());
  Status gone = CheckSlot("s", std::nullopt, Lsn(0x10));
  EXPECT_EQ(gone.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(gone.message().find("is gone although pg2iceberg used it"), std::string::npos);
  Status advanced = CheckSlot("s", Lsn(0x30), Lsn(0x20));
  EXPECT_EQ(advanced.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(advanced.message().find("advanced to 0/30 by someone else"), std::string::npos);
}

}  // namespace
}  // namespace pg2iceberg::pipeline

#include "materialize/batch_plan.h"

#include <gtest/gtest.h>

namespace pg2iceberg::materialize {
namespace {

// Log entries of `rows` changes each, from offset 0; `copied` marks a copy's files.
std::vector<coord::LogEntry> Log(const std::vector<int64_t>& rows, size_t copied = 0) {
  std::vector<coord::LogEntry> out;
  int64_t at = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    coord::LogEntry e;
    e.start_offset = at;
    e.end_offset = at += rows[i];
    e.rows = rows[i];
    e.kind = i < copied ? io::StagedKind::kSnapshot : io::StagedKind::kChanges;
    out.push_back(e);
  }
  return out;
}

TEST(BatchLengthTest, WholeFilesUpToTheLimitAndAtLeastOne) {
  EXPECT_EQ(BatchLength(Log({3, 3, 3}), 7, -1, -1), 2u);
  EXPECT_EQ(BatchLength(Log({3, 3, 3}), 9, -1, -1), 3u);
  EXPECT_EQ(BatchLength(Log({50, 1}), 7, -1, -1), 1u);  // one file over the limit still goes
}

TEST(BatchLengthTest, ACopysFilesGoInABatchOfTheirOwn) {
  EXPECT_EQ(BatchLength(Log({2, 2, 2, 2}, 2), 100, -1, -1), 2u);
  EXPECT_EQ(BatchLength(Log({2, 2, 2}, 0), 100, -1, -1), 3u);
}

TEST(BatchLengthTest, NeverAcrossAResyncOffsetOrTheNextMarker) {
  EXPECT_EQ(BatchLength(Log({2, 2, 2, 2}), 100, 4, -1), 2u);   // the resync's copy starts at 4
  EXPECT_EQ(BatchLength(Log({2, 2, 2, 2}), 100, 0, -1), 4u);   // a batch may start there
  EXPECT_EQ(BatchLength(Log({2, 2, 2, 2}), 100, -1, 5), 3u);   // the marker is at 5
  EXPECT_EQ(BatchLength(Log({2, 2, 2, 2}), 100, -1, 0), 1u);
}

stage::DecodedStagedFile Changes(const std::vector<uint64_t>& commits, uint32_t oid = 7) {
  stage::DecodedStagedFile f;
  f.relation.oid = oid;
  for (uint64_t c : commits) {
    stage::StagedChange sc;
    sc.change.commit_lsn = Lsn(c);
    f.changes.push_back(sc);
  }
  return f;
}

TEST(CopyFilterTest, ChangesTheCopyHoldsAreSkippedFromItsStartOn) {
  CopyFilter only;
  only.from_offset = 10;
  only.before = Lsn(100);
  EXPECT_TRUE(only.SkipsChange(Lsn(99), 10));
  EXPECT_FALSE(only.SkipsChange(Lsn(100), 10));  // committed at or after the copy's LSN
  EXPECT_FALSE(only.SkipsChange(Lsn(99), 9));    // before the copy's start: not its business
  EXPECT_FALSE(CopyFilter{}.SkipsChange(Lsn(1), 0));  // no copy LSN: nothing skipped

  auto log = Log({3, 3});
  log[0].start_offset = 10;
  EXPECT_TRUE(AllSkipped(Changes({50, 60, 99}), log[0], only, 0));
  EXPECT_FALSE(AllSkipped(Changes({50, 60, 100}), log[0], only, 0));
  // Changes below the cursor do not count.
  EXPECT_TRUE(AllSkipped(Changes({150, 60, 99}), log[0], only, 11));
  // A copy's own rows are never skipped.
  log[0].kind = io::StagedKind::kSnapshot;
  EXPECT_FALSE(AllSkipped(Changes({50}), log[0], only, 0));
}

TEST(CopyFilterTest, ChangesOfAnEarlierTableUnderTheSameNameAreSkipped) {
  CopyFilter only;
  only.oid = 7;
  only.from_offset = 10;
  auto log = Log({3});
  log[0].start_offset = 10;
  EXPECT_TRUE(AllSkipped(Changes({500}, /*oid=*/6), log[0], only, 0));
  EXPECT_FALSE(AllSkipped(Changes({500}, /*oid=*/7), log[0], only, 0));
  EXPECT_FALSE(AllSkipped(Changes({500}, /*oid=*/0), log[0], only, 0));  // unknown oid: kept
}

TEST(PlanDeletesTest, CopiedRowsOntoCopiedRowsNeedNoDeletesExceptInPositionMode) {
  // args: copy_batch, snapshot_only_before, replace, truncated, indexed
  DeletePlan p = PlanDeletes(true, true, false, false, false);
  EXPECT_TRUE(p.snapshot_only);
  EXPECT_FALSE(p.delete_every_key);
  EXPECT_FALSE(p.remove_all);
  p = PlanDeletes(true, true, false, false, true);  // position mode still looks every key up
  EXPECT_TRUE(p.snapshot_only);
  EXPECT_TRUE(p.delete_every_key);
  p = PlanDeletes(true, false, false, false, false);  // onto changed rows: deletes
  EXPECT_FALSE(p.snapshot_only);
  EXPECT_TRUE(p.delete_every_key);
  p = PlanDeletes(false, true, false, false, false);  // changes: deletes
  EXPECT_FALSE(p.snapshot_only);
  EXPECT_TRUE(p.delete_every_key);
}

TEST(PlanDeletesTest, AReplacingOrTruncatingBatchRemovesEverythingAndDeletesNothing) {
  for (bool indexed : {false, true}) {
    DeletePlan p = PlanDeletes(true, false, /*replace=*/true, false, indexed);
    EXPECT_TRUE(p.remove_all);
    EXPECT_TRUE(p.snapshot_only);
    EXPECT_FALSE(p.delete_every_key);
    p = PlanDeletes(false, false, false, /*truncated=*/true, indexed);
    EXPECT_TRUE(p.remove_all);
    EXPECT_FALSE(p.snapshot_only);
    EXPECT_FALSE(p.delete_every_key);
  }
}

TEST(OneKeyLengthTest, FilesAfterAKeyChangeStartTheNextBatch) {
  auto file = [](std::vector<int> key, int attnum_of_id) {
    stage::DecodedStagedFile f;
    f.relation.columns = {{"id", 23, -1, {}, false, attnum_of_id}, {"v", 25, -1, {}, true, 2}};
    f.relation.key = std::move(key);
    return f;
  };
  EXPECT_EQ(OneKeyLength({file({0}, 1), file({0}, 1), file({1}, 1), file({0}, 1)}), 2u);
  EXPECT_EQ(OneKeyLength({file({0}, 1), file({0}, 1)}), 2u);
  // The same attnum under another name (a rename) is the same key.
  auto renamed = file({0}, 1);
  renamed.relation.columns[0].name = "ident";
  EXPECT_EQ(OneKeyLength({file({0}, 1), renamed}), 2u);
}

// A folded batch of three keys: 1 upserted in full, 2 upserted with its column 2 (TOAST)
// unchanged and resolved from key 9 (its key changed in the batch), 3 deleted.
fold::FoldResult Folded() {
  fold::FoldResult f;
  auto& one = f.rows[{Value(int32_t{1})}];
  one.values = {Value(int32_t{1}), Value(std::string("a")), Value(std::string("big-1"))};
  auto& two = f.rows[{Value(int32_t{2})}];
  two.values = {Value(int32_t{2}), Value(std::string("b")), Value()};
  two.unresolved = {2};
  two.resolve_from = {Value(int32_t{9})};
  f.rows[{Value(int32_t{3})}].kind = fold::FoldedRow::Kind::kDelete;
  return f;
}

TEST(RowsOfTest, UpsertsTakeUnchangedToastFromTheLiveRowTheyResolveFrom) {
  LiveRows live;
  live[{Value(int32_t{9})}] = {0, {Value(), Value(), Value(std::string("big-9"))}};
  const BatchRows rows = RowsOf(Folded(), live, /*delete_every_key=*/true, /*indexed=*/true);
  ASSERT_EQ(rows.upserts.size(), 2u);
  EXPECT_EQ(rows.upserts[0][2], Value(std::string("big-1")));
  EXPECT_EQ(rows.upserts[1][2], Value(std::string("big-9")));
  EXPECT_EQ(rows.upserts[1][1], Value(std::string("b")));  // its own columns are kept
  EXPECT_EQ(rows.toast_not_found, 0);
  EXPECT_EQ(rows.deletes.size(), 3u);  // every key touched
  ASSERT_EQ(rows.upsert_keys.size(), 2u);
  EXPECT_EQ(rows.upsert_keys[1], fold::Key{Value(int32_t{2})});
  ASSERT_EQ(rows.removed_keys.size(), 1u);
  EXPECT_EQ(rows.removed_keys[0], fold::Key{Value(int32_t{3})});
}

TEST(RowsOfTest, AMissingLiveRowLeavesTheColumnNullAndIsCounted) {
  const BatchRows rows = RowsOf(Folded(), {}, /*delete_every_key=*/false, /*indexed=*/false);
  ASSERT_EQ(rows.upserts.size(), 2u);
  EXPECT_EQ(rows.upserts[1][2], Value());
  EXPECT_EQ(rows.toast_not_found, 1);
  EXPECT_TRUE(rows.deletes.empty());
  EXPECT_TRUE(rows.upsert_keys.empty());
  EXPECT_TRUE(rows.removed_keys.empty());
}

}  // namespace
}  // namespace pg2iceberg::materialize

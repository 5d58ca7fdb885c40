#include "iceberg/commit_ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "base/clock.h"
#include "fixtures/gtest_support.h"
#include "iceberg/metadata_edit.h"
#include "iceberg/parquet_io.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/puffin.h"
#include "iceberg/table_scan.h"
#include "io/memory_file_io.h"

namespace pg2iceberg::iceberg {
namespace {

using namespace std::chrono_literals;
using Row = std::vector<Value>;
using ::testing::HasSubstr;

constexpr char kLoc[] = "mem://wh/db/t";

// A format v3 table of (id long key, v string) on the in-memory FileIO. Each test plans a
// change on one snapshot, lets another writer commit, and then commits the change: the
// operation's check decides whether it still may.
class CommitOpsTest : public ::testing::Test {
 protected:
  void SetUp() override { Create(3); }
  void Create(int32_t format_version) {
    Schema schema(0,
                  {Field{1, "id", true, DataType::Primitive(Type{TypeId::kLong}), "", {}, {}},
                   Field{2, "v", false, DataType::Primitive(Type{TypeId::kString}), "", {}, {}}},
                  {1});
    NewTableOptions options;
    options.format_version = format_version;
    auto m = NewTableMetadata(kLoc, schema, PartitionSpec{}, {},
                              "0b5c1f7e-3a7d-4c55-9d0e-7d2f4b1a9c33", clock_.NowMillis(), options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    meta_ = *m;
  }

  DataFile Data(const std::vector<Row>& rows) {
    auto w = PartitionedWriter::MakeData(io_, meta_);
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE((*w)->Write(rows).ok());
    auto files = *(*w)->Close();
    EXPECT_EQ(files.size(), 1u);
    return files.at(0);
  }
  DataFile Dv(const DataFile& data, std::vector<int64_t> positions) {
    auto dvs = DeletionVectorWriter::Write(
        io_.get(), std::string(kLoc) + "/data/dv-" + std::to_string(++dv_no_) + ".puffin",
        {{data.file_path, 0, {}, std::move(positions)}});
    EXPECT_TRUE(dvs.ok()) << dvs.status().ToString();
    return dvs->at(0);
  }
  // A position delete file (format v2) of rows in several data files.
  DataFile PosDeletes(const std::vector<std::pair<std::string, int64_t>>& at) {
    ParquetWriteOptions o;
    o.new_file_uri = UniqueFileUris(std::string(kLoc) + "/data", "pos-del-");
    auto w = PositionDeleteWriter::Make(io_, o);
    EXPECT_TRUE(w.ok());
    for (const auto& [path, pos] : at) (*w)->Add(path, pos);
    auto files = *(*w)->Close();
    EXPECT_EQ(files.size(), 1u);
    files.at(0).spec_id = meta_.default_spec_id;
    return files.at(0);
  }
  DataFile EqDelete(std::vector<int64_t> keys) {
    auto d = PartitionedWriter::MakeEqualityDeletes(io_, meta_);
    EXPECT_TRUE(d.ok());
    std::vector<Row> rows;
    for (int64_t k : keys) rows.push_back({Value(k)});
    EXPECT_TRUE((*d)->WriteTo({}, rows).ok());
    return (*d)->Close()->at(0);
  }

  // Produces `op` on the current metadata and, when that works, applies it.
  Status Commit(SnapshotUpdate& op) {
    clock_.Advance(1s);
    PG2I_ASSIGN_OR_RETURN(PendingSnapshot pending, op.Produce(meta_));
    return ApplyUpdates(&meta_, pending.updates, clock_.NowMillis());
  }
  int64_t Append(const DataFile& f) {
    AppendFiles op(io_.get(), &clock_, {f});
    PG2I_EXPECT_OK(Commit(op));
    return *meta_.current_snapshot_id;
  }

  std::vector<Row> Scan() {
    auto scan = TableScan::Plan(io_, meta_);
    EXPECT_TRUE(scan.ok()) << scan.status().ToString();
    auto rows = scan->ReadAll(meta_.CurrentSchema()->fields());
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    std::sort(rows->begin(), rows->end());
    return *rows;
  }
  static Row R(int64_t id, const std::string& v) { return {Value(id), Value(v)}; }

  FakeClock clock_;
  std::shared_ptr<io::MemoryFileIO> io_ = std::make_shared<io::MemoryFileIO>(&clock_);
  TableMetadata meta_;
  int dv_no_ = 0;
};

TEST_F(CommitOpsTest, HistorySinceListsWhatEachLaterCommitAddedAndRemoved) {
  const DataFile a = Data({R(1, "a")});
  const int64_t s1 = Append(a);
  const DataFile b = Data({R(2, "b")});
  Append(b);
  const DataFile dv = Dv(a, {0});
  RowDelta del(io_.get(), &clock_, *meta_.current_snapshot_id, {}, {dv});
  PG2I_ASSERT_OK(Commit(del));

  auto since = HistorySince(io_.get(), meta_, s1);
  PG2I_ASSERT_OK(since.status());
  EXPECT_EQ(since->commits, 2);
  ASSERT_EQ(since->added.size(), 2u);
  EXPECT_EQ(since->added[0].file.file_path, b.file_path);
  EXPECT_EQ(since->added[1].file.referenced_data_file, a.file_path);
  EXPECT_TRUE(since->removed.empty());
  auto all = HistorySince(io_.get(), meta_, std::nullopt);
  PG2I_ASSERT_OK(all.status());
  EXPECT_EQ(all->commits, 3);
  auto none = HistorySince(io_.get(), meta_, meta_.current_snapshot_id);
  PG2I_ASSERT_OK(none.status());
  EXPECT_EQ(none->commits, 0);
}

TEST_F(CommitOpsTest, AnAppendCommitsOverAnyConcurrentCommit) {
  const DataFile a = Data({R(1, "a"), R(2, "b")});
  Append(a);
  AppendFiles late(io_.get(), &clock_, {Data({R(3, "c")})});
  RowDelta other(io_.get(), &clock_, *meta_.current_snapshot_id, {}, {Dv(a, {1})});
  PG2I_ASSERT_OK(Commit(other));
  PG2I_ASSERT_OK(Commit(late));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(1, "a"), R(3, "c")}));
}

TEST_F(CommitOpsTest, ARowDeltaFailsWhenTheFileItsVectorNamesWasRewrittenMeanwhile) {
  const DataFile a = Data({R(1, "a"), R(2, "b")});
  const int64_t s1 = Append(a);
  // The pipeline plans "delete row 1 of a" on s1; meanwhile another engine compacts a.
  RowDelta del(io_.get(), &clock_, s1, {}, {Dv(a, {1})});
  RewriteFiles compact(io_.get(), &clock_, s1,
                       {{a.file_path}, {Data({R(1, "a"), R(2, "b")})}, meta_.last_sequence_number});
  PG2I_ASSERT_OK(Commit(compact));
  const Status s = Commit(del);
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("was removed by a concurrent commit"));
  // Committed anyway, the delete would be lost: its vector names a file no longer live.
  EXPECT_EQ(Scan(), (std::vector<Row>{R(1, "a"), R(2, "b")}));
}

TEST_F(CommitOpsTest, ARowDeltaCommitsOverAnUnrelatedConcurrentCommit) {
  const DataFile a = Data({R(1, "a"), R(2, "b")});
  const int64_t s1 = Append(a);
  RowDelta del(io_.get(), &clock_, s1, {Data({R(2, "b2")})}, {Dv(a, {1})});
  Append(Data({R(3, "c")}));
  PG2I_ASSERT_OK(Commit(del));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(1, "a"), R(2, "b2"), R(3, "c")}));
}

TEST_F(CommitOpsTest, ARowDeltaFailsOnAConcurrentVectorForTheSameFile) {
  const DataFile a = Data({R(1, "a"), R(2, "b"), R(3, "c")});
  const int64_t s1 = Append(a);
  RowDelta mine(io_.get(), &clock_, s1, {}, {Dv(a, {0})});
  const DataFile their_dv = Dv(a, {2});
  RowDelta theirs(io_.get(), &clock_, s1, {}, {their_dv});
  PG2I_ASSERT_OK(Commit(theirs));
  const Status s = Commit(mine);
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("added a deletion vector for " + a.file_path));
  // A vector for another file does not conflict.
  const DataFile b = Data({R(4, "d")});
  const int64_t s3 = Append(b);
  RowDelta on_b(io_.get(), &clock_, s3, {}, {Dv(b, {0})});
  RowDelta again_on_a(io_.get(), &clock_, s3, {}, {Dv(a, {0, 2})},
                      {FileKey(their_dv)});
  PG2I_ASSERT_OK(Commit(again_on_a));
  PG2I_ASSERT_OK(Commit(on_b));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(2, "b")}));
}

TEST_F(CommitOpsTest, ARewriteFailsWhenAVectorForAReplacedFileWasCommittedMeanwhile) {
  const DataFile a = Data({R(1, "a"), R(2, "b")});
  const DataFile b = Data({R(3, "c")});
  Append(a);
  const int64_t s2 = Append(b);
  RewriteFiles compact(io_.get(), &clock_, s2,
                       {{a.file_path}, {Data({R(1, "a"), R(2, "b")})}, meta_.last_sequence_number});
  RowDelta del(io_.get(), &clock_, s2, {}, {Dv(a, {0})});
  PG2I_ASSERT_OK(Commit(del));
  const Status s = Commit(compact);
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("(for " + a.file_path + ")"));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(2, "b"), R(3, "c")}));
}

TEST_F(CommitOpsTest, APositionDeleteConflictsOnlyWithTheFilesItsPathBoundsCanName) {
  Create(2);
  DataFile f[3] = {Data({R(1, "a")}), Data({R(2, "b")}), Data({R(3, "c")})};
  for (const DataFile& d : f) Append(d);
  // The three paths in order: a delete of rows in the first and the last may name the middle
  // one by its bounds, but not a path outside them.
  std::sort(std::begin(f), std::end(f),
            [](const DataFile& x, const DataFile& y) { return x.file_path < y.file_path; });
  const int64_t planned = *meta_.current_snapshot_id;
  const int64_t seq = meta_.last_sequence_number;
  RewriteFiles compact_first(io_.get(), &clock_, planned,
                             {{f[0].file_path}, {Data({R(9, "first")})}, seq});
  RewriteFiles compact_middle(io_.get(), &clock_, planned,
                              {{f[1].file_path}, {Data({R(8, "middle")})}, seq});
  // The pipeline deletes the second and third rows by position, in one file naming two files.
  RowDelta del(io_.get(), &clock_, planned, {},
               {PosDeletes({{f[1].file_path, 0}, {f[2].file_path, 0}})});
  PG2I_ASSERT_OK(Commit(del));
  const Status middle = Commit(compact_middle);
  EXPECT_EQ(middle.code(), StatusCode::kAborted) << middle.ToString();
  PG2I_ASSERT_OK(Commit(compact_first));
  // And a delete planned before the first file was rewritten, naming only later files,
  // still commits; one whose bounds reach the rewritten file does not.
  RowDelta later(io_.get(), &clock_, planned, {}, {PosDeletes({{f[2].file_path, 0}})});
  PG2I_EXPECT_OK(Commit(later));
  RowDelta reaching(io_.get(), &clock_, planned, {},
                    {PosDeletes({{f[0].file_path, 0}, {f[2].file_path, 0}})});
  EXPECT_EQ(Commit(reaching).code(), StatusCode::kAborted);
}

TEST_F(CommitOpsTest, ARewriteKeepsTheSequenceNumberSoAnEqualityDeleteCommittedMeanwhileApplies) {
  const DataFile a = Data({R(1, "a"), R(2, "b")});
  const int64_t s1 = Append(a);
  const int64_t seq = meta_.last_sequence_number;
  const DataFile rewritten = Data({R(1, "a"), R(2, "b")});
  RewriteFiles compact(io_.get(), &clock_, s1, {{a.file_path}, {rewritten}, seq});
  // The pipeline deletes key 2 by equality while the rewrite runs; a vector on another file
  // does not concern the rewrite either.
  const DataFile b = Data({R(3, "c")});
  RowDelta del(io_.get(), &clock_, s1, {b}, {EqDelete({2})});
  PG2I_ASSERT_OK(Commit(del));
  PG2I_ASSERT_OK(Commit(compact));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(1, "a"), R(3, "c")}));
  auto live = LiveEntries(io_.get(), meta_);
  PG2I_ASSERT_OK(live.status());
  bool found = false;
  for (const ManifestEntry& e : *live) {
    if (e.file.file_path != rewritten.file_path) continue;
    found = true;
    EXPECT_EQ(e.sequence_number, seq);
    EXPECT_GT(e.file_sequence_number.value_or(0), seq);
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(meta_.CurrentSnapshot()->summary.at("operation"), "replace");
}

TEST_F(CommitOpsTest, ARewriteWithoutAKeptSequenceNumberFailsOnAnyDeleteCommittedMeanwhile) {
  const DataFile a = Data({R(1, "a"), R(2, "b")});
  const int64_t s1 = Append(a);
  RewriteFiles compact(io_.get(), &clock_, s1, {{a.file_path}, {Data({R(1, "a"), R(2, "b")})}, {}});
  RowDelta del(io_.get(), &clock_, s1, {}, {EqDelete({2})});
  PG2I_ASSERT_OK(Commit(del));
  EXPECT_EQ(Commit(compact).code(), StatusCode::kAborted);
  EXPECT_EQ(Scan(), (std::vector<Row>{R(1, "a")}));
}

TEST_F(CommitOpsTest, AChangePlannedOnExpiredOrRolledBackHistoryIsPlannedAgain) {
  const DataFile a = Data({R(1, "a")});
  const int64_t s1 = Append(a);
  const int64_t s2 = Append(Data({R(2, "b")}));
  Append(Data({R(3, "c")}));
  // Rolled back to s1: s2 is no longer an ancestor of main.
  RowDelta on_s2(io_.get(), &clock_, s2, {}, {Dv(a, {0})});
  SnapshotRef ref;
  ref.snapshot_id = s1;
  ref.type = "branch";
  PG2I_ASSERT_OK(SetSnapshotRef(&meta_, "main", ref, clock_.NowMillis()));
  Status s = Commit(on_s2);
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("no longer an ancestor of main"));
  // Planned on s1, which is then expired under two newer commits.
  RowDelta on_s1(io_.get(), &clock_, s1, {}, {Dv(a, {0})});
  const int64_t s4 = Append(Data({R(4, "d")}));
  Append(Data({R(5, "e")}));
  PG2I_ASSERT_OK(RemoveSnapshots(&meta_, {s1}));
  (void)s4;
  s = Commit(on_s1);
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("expired"));
}

TEST_F(CommitOpsTest, ATruncateRemovesWhatIsLiveWhenItCommits) {
  const DataFile a = Data({R(1, "a")});
  Append(a);
  OverwriteFiles truncate(io_.get(), &clock_, {});
  truncate.SetSummary("pg2iceberg.marker", "t");
  Append(Data({R(2, "b")}));
  PG2I_ASSERT_OK(Commit(truncate));
  EXPECT_TRUE(Scan().empty());
  EXPECT_EQ(meta_.CurrentSnapshot()->summary.at("operation"), "delete");
  EXPECT_EQ(meta_.CurrentSnapshot()->summary.at("pg2iceberg.marker"), "t");
}

TEST_F(CommitOpsTest, ReplacingAFileThatIsNoLongerLiveFails) {
  const DataFile a = Data({R(1, "a")});
  const int64_t s1 = Append(a);
  RewriteFiles first(io_.get(), &clock_, s1, {{a.file_path}, {Data({R(1, "a")})}, 1});
  RewriteFiles second(io_.get(), &clock_, s1, {{a.file_path}, {Data({R(1, "a")})}, 1});
  PG2I_ASSERT_OK(Commit(first));
  const Status s = Commit(second);
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("no longer live"));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(1, "a")}));
}

}  // namespace
}  // namespace pg2iceberg::iceberg

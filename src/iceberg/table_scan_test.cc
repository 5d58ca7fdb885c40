#include "iceberg/table_scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "base/clock.h"
#include "fixtures/gtest_support.h"
#include "iceberg/metadata_edit.h"
#include "iceberg/parquet_io.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/puffin.h"
#include "iceberg/snapshot_producer.h"
#include "io/memory_file_io.h"

namespace pg2iceberg::iceberg {
namespace {

using namespace std::chrono_literals;
using Row = std::vector<Value>;

constexpr char kLoc[] = "mem://wh/db/t";

// A table of (id long key, v string, p int) on the in-memory FileIO, committed through
// SnapshotProducer and ApplyUpdates; optionally partitioned by identity(p).
class TableScanTest : public ::testing::Test {
 protected:
  void Create(bool partitioned, int32_t format_version = 2) {
    Schema schema(0,
                  {Field{1, "id", true, DataType::Primitive(Type{TypeId::kLong}), "", {}, {}},
                   Field{2, "v", false, DataType::Primitive(Type{TypeId::kString}), "", {}, {}},
                   Field{3, "p", false, DataType::Primitive(Type{TypeId::kInt}), "", {}, {}}},
                  {1});
    PartitionSpec spec;
    if (partitioned) spec = PartitionSpec{0, {{3, 1000, "p", "identity"}}};
    NewTableOptions options;
    options.format_version = format_version;
    auto m = NewTableMetadata(kLoc, schema, spec, {}, "1d4b2c8e-6c1f-4f7a-8f0e-2b7d7e6c5a10",
                              clock_.NowMillis(), options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    meta_ = *m;
  }

  std::vector<DataFile> Data(const std::vector<Row>& rows) {
    auto w = PartitionedWriter::MakeData(io_, meta_);
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE((*w)->Write(rows).ok());
    return *(*w)->Close();
  }
  // Equality deletes of `keys` in `partition` (empty: the table is unpartitioned).
  std::vector<DataFile> EqDeletes(const std::vector<int64_t>& keys, const Row& partition = {}) {
    auto d = PartitionedWriter::MakeEqualityDeletes(io_, meta_);
    EXPECT_TRUE(d.ok());
    std::vector<Row> rows;
    for (int64_t k : keys) rows.push_back({Value(k)});
    EXPECT_TRUE((*d)->WriteTo(partition, rows).ok());
    return *(*d)->Close();
  }
  std::vector<DataFile> PosDeletes(const std::vector<std::pair<std::string, int64_t>>& at,
                                   const Row& partition = {}) {
    ParquetWriteOptions o;
    o.new_file_uri = UniqueFileUris(std::string(kLoc) + "/data", "pos-");
    auto w = PositionDeleteWriter::Make(io_, o);
    EXPECT_TRUE(w.ok());
    for (const auto& [path, pos] : at) (*w)->Add(path, pos);
    auto files = *(*w)->Close();
    for (DataFile& f : files) {
      f.spec_id = meta_.default_spec_id;
      f.partition = partition;
    }
    return files;
  }

  int64_t Commit(std::vector<DataFile> data, std::vector<DataFile> deletes = {}) {
    clock_.Advance(1s);
    SnapshotChange change;
    change.added_data = std::move(data);
    change.added_deletes = std::move(deletes);
    SnapshotProducer p(io_.get(), &clock_, std::move(change));
    auto pending = p.Produce(meta_);
    EXPECT_TRUE(pending.ok()) << pending.status().ToString();
    EXPECT_TRUE(ApplyUpdates(&meta_, pending->updates, clock_.NowMillis()).ok());
    return meta_.current_snapshot_id.value_or(-1);
  }

  // The live rows, sorted, read with `projection` (default: every field).
  std::vector<Row> Scan(std::optional<int64_t> snapshot = {}, std::vector<Field> projection = {}) {
    if (projection.empty()) projection = meta_.CurrentSchema()->fields();
    auto scan = TableScan::Plan(io_, meta_, snapshot);
    EXPECT_TRUE(scan.ok()) << scan.status().ToString();
    if (!scan.ok()) return {};
    auto rows = scan->ReadAll(projection);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return {};
    std::sort(rows->begin(), rows->end());
    return *rows;
  }

  static Row R(int64_t id, const std::string& v, int32_t p = 1) {
    return {Value(id), Value(v), Value(p)};
  }

  FakeClock clock_;
  std::shared_ptr<io::MemoryFileIO> io_ = std::make_shared<io::MemoryFileIO>(&clock_);
  TableMetadata meta_;
};

TEST_F(TableScanTest, EqualityDeletesApplyToOlderDataAndPositionDeletesToTheirFile) {
  Create(false);
  const auto first = Data({R(1, "a"), R(2, "b"), R(3, "c")});
  const int64_t s1 = Commit(first);
  // An update of 2 the materializer's way: the new version and an equality delete of its key,
  // in one commit (the delete does not apply to data of its own sequence number).
  Commit(Data({R(2, "b2")}), EqDeletes({2}));
  // Another engine deletes row 1 by position (row 0 of the first file).
  const int64_t s3 = Commit({}, PosDeletes({{first[0].file_path, 0}}));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(2, "b2"), R(3, "c")}));
  // Time travel: each snapshot as it was.
  EXPECT_EQ(Scan(s1), (std::vector<Row>{R(1, "a"), R(2, "b"), R(3, "c")}));
  EXPECT_EQ(Scan(s3), Scan());
  EXPECT_EQ(TableScan::Plan(io_, meta_, 42).status().code(), StatusCode::kNotFound);
  // A projection without the key still has the deletes applied.
  const Field v = meta_.CurrentSchema()->fields()[1];
  EXPECT_EQ(Scan({}, {v}), (std::vector<Row>{{Value(std::string("b2"))}, {Value(std::string("c"))}}));
  // The plan says which delete file applies to which data file.
  auto scan = TableScan::Plan(io_, meta_);
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->tasks().size(), 2u);
  for (const FileScanTask& t : scan->tasks()) {
    if (t.data.file.file_path == first[0].file_path) {
      EXPECT_EQ(t.equality_deletes.size(), 1u);
      EXPECT_EQ(t.position_deletes.size(), 1u);
    } else {
      EXPECT_TRUE(t.equality_deletes.empty());  // same sequence number as the delete
      EXPECT_EQ(t.position_deletes.size(), 1u);  // in scope; its rows name another file
    }
  }
}

TEST_F(TableScanTest, PartitionScopedDeletesStayInTheirPartition) {
  Create(true);
  const auto data = Data({R(5, "one", 1), R(5, "two", 2), R(6, "x", 1)});
  Commit(data);
  // Key 5 deleted in partition p=1 only; a position delete of partition p=2 names a row of a
  // p=1 file, which it cannot reach.
  std::string p1_file;
  for (const DataFile& f : data) {
    if (f.partition == Row{Value(int32_t{1})}) p1_file = f.file_path;
  }
  ASSERT_FALSE(p1_file.empty());
  Commit({}, EqDeletes({5}, {Value(int32_t{1})}));
  Commit({}, PosDeletes({{p1_file, 1}}, {Value(int32_t{2})}));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(5, "two", 2), R(6, "x", 1)}));
  // In its own partition it applies.
  Commit({}, PosDeletes({{p1_file, 1}}, {Value(int32_t{1})}));
  EXPECT_EQ(Scan(), (std::vector<Row>{R(5, "two", 2)}));
}

TEST_F(TableScanTest, DeletionVectorsApplyAndAReplacedVectorLeavesItsNeighboursInThePuffinFile) {
  Create(false, /*format_version=*/3);
  const auto first = Data({R(1, "a"), R(2, "b"), R(3, "c")});
  const auto second = Data({R(4, "d"), R(5, "e")});
  Commit(first);
  EXPECT_EQ(meta_.next_row_id, 3);
  Commit(second);
  EXPECT_EQ(meta_.CurrentSnapshot()->first_row_id, 3);
  EXPECT_EQ(meta_.CurrentSnapshot()->added_rows, 2);
  // One Puffin file, a vector for each data file.
  auto dvs = DeletionVectorWriter::Write(
      io_.get(), std::string(kLoc) + "/data/dv-1.puffin",
      {{first[0].file_path, 0, {}, {0}}, {second[0].file_path, 0, {}, {1}}});
  ASSERT_TRUE(dvs.ok()) << dvs.status().ToString();
  Commit({}, *dvs);
  EXPECT_EQ(Scan(), (std::vector<Row>{R(2, "b"), R(3, "c"), R(4, "d")}));
  EXPECT_EQ(meta_.CurrentSnapshot()->summary.at("added-dvs"), "2");
  // The first file's vector is replaced by one that also deletes row 2; the second file's,
  // in the same Puffin file, stays.
  auto merged = DeletionVectorWriter::Write(io_.get(), std::string(kLoc) + "/data/dv-2.puffin",
                                            {{first[0].file_path, 0, {}, {0, 2}}});
  ASSERT_TRUE(merged.ok());
  clock_.Advance(1s);
  SnapshotChange change;
  change.added_deletes = *merged;
  change.removed_paths.insert(FileKey((*dvs)[0]));
  SnapshotProducer p(io_.get(), &clock_, std::move(change));
  auto pending = p.Produce(meta_);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_TRUE(ApplyUpdates(&meta_, pending->updates, clock_.NowMillis()).ok());
  EXPECT_EQ(Scan(), (std::vector<Row>{R(2, "b"), R(4, "d")}));
  auto live = LiveEntries(io_.get(), meta_);
  ASSERT_TRUE(live.ok());
  int dv_count = 0;
  for (const ManifestEntry& e : *live) {
    if (IsDeletionVector(e.file)) ++dv_count;
    // Row ids stay with the data files through the rewritten manifests.
    if (e.file.file_path == first[0].file_path) {
      EXPECT_EQ(e.file.first_row_id, 0);
    }
    if (e.file.file_path == second[0].file_path) {
      EXPECT_EQ(e.file.first_row_id, 3);
    }
  }
  EXPECT_EQ(dv_count, 2);
  // Deletes add no rows.
  EXPECT_EQ(meta_.CurrentSnapshot()->added_rows, 0);
  EXPECT_EQ(meta_.next_row_id, 5);
}

TEST_F(TableScanTest, ATableWithoutSnapshotsScansEmpty) {
  Create(false);
  auto scan = TableScan::Plan(io_, meta_);
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->tasks().empty());
  EXPECT_TRUE(Scan().empty());
}

}  // namespace
}  // namespace pg2iceberg::iceberg

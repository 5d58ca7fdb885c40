#include "index/key_index.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <span>

#include "base/clock.h"
#include "fixtures/gtest_support.h"
#include "fixtures/temp_dir.h"
#include "iceberg/metadata_edit.h"
#include "iceberg/parquet_io.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/snapshot_producer.h"
#include "io/memory_file_io.h"

namespace pg2iceberg::index {
namespace {

using namespace std::chrono_literals;
using iceberg::DataFile;
using Row = std::vector<Value>;
using fixtures::TempDir;

constexpr char kLoc[] = "mem://wh/db/t";

// A table of (id long key, v string, p int) partitioned by identity(p), on the in-memory
// FileIO, and an index in a temporary directory.
class KeyIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    iceberg::Schema schema(
        0,
        {iceberg::Field{1, "id", true, iceberg::DataType::Primitive(Type{TypeId::kLong}), "", {}, {}},
         iceberg::Field{2, "v", false, iceberg::DataType::Primitive(Type{TypeId::kString}), "", {}, {}},
         iceberg::Field{3, "p", false, iceberg::DataType::Primitive(Type{TypeId::kInt}), "", {}, {}}},
        {1});
    auto m = iceberg::NewTableMetadata(kLoc, schema, iceberg::PartitionSpec{0, {{3, 1000, "p", "identity"}}},
                                       {}, "1d4b2c8e-6c1f-4f7a-8f0e-2b7d7e6c5a10", clock_.NowMillis());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    meta_ = *m;
    auto dir = TempDir::Create("pg2i-index-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
  }

  // Writes `rows` (small files: about 2 rows each) and returns the files and each row's place.
  std::vector<DataFile> Data(const std::vector<Row>& rows,
                             iceberg::PartitionedWriter::RowLocations* where = nullptr,
                             size_t per_write = SIZE_MAX) {
    iceberg::ParquetWriteOptions o;
    o.target_file_size = 1;  // a file per slice
    o.slice_rows = 2;
    auto w = iceberg::PartitionedWriter::MakeData(io_, meta_, o);
    EXPECT_TRUE(w.ok());
    for (size_t at = 0; at < rows.size(); at += per_write) {
      const size_t n = std::min(per_write, rows.size() - at);
      EXPECT_TRUE((*w)->Write(std::span<const Row>(rows.data() + at, n)).ok());
    }
    auto files = *(*w)->Close();
    if (where) *where = (*w)->locations();
    return files;
  }
  std::vector<DataFile> PosDeletes(const DataFile& of, const std::vector<int64_t>& positions) {
    iceberg::ParquetWriteOptions o;
    o.new_file_uri = iceberg::UniqueFileUris(std::string(kLoc) + "/data", "pos-");
    auto w = iceberg::PositionDeleteWriter::Make(io_, o);
    EXPECT_TRUE(w.ok());
    for (int64_t pos : positions) (*w)->Add(of.file_path, pos);
    auto files = *(*w)->Close();
    for (DataFile& f : files) {
      f.spec_id = of.spec_id;
      f.partition = of.partition;
    }
    return files;
  }
  int64_t Commit(iceberg::SnapshotChange change) {
    clock_.Advance(1s);
    iceberg::SnapshotProducer p(io_.get(), &clock_, std::move(change));
    auto pending = p.Produce(meta_);
    EXPECT_TRUE(pending.ok()) << pending.status().ToString();
    EXPECT_TRUE(iceberg::ApplyUpdates(&meta_, pending->updates, clock_.NowMillis()).ok());
    return meta_.current_snapshot_id.value_or(-1);
  }
  std::unique_ptr<KeyIndex> Open() {
    auto index = KeyIndex::Open((dir_->path() / "idx").string());
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    return index.ok() ? std::move(*index) : nullptr;
  }
  static Row R(int64_t id, const std::string& v, int32_t p = 1) {
    return {Value(id), Value(v), Value(p)};
  }
  static std::vector<Row> Keys(std::initializer_list<int64_t> ids) {
    std::vector<Row> out;
    for (int64_t id : ids) out.push_back({Value(id)});
    return out;
  }
  // Where the index has `ids`, as "path#pos" ("-" for a key not live).
  std::vector<std::string> Where(KeyIndex& index, std::initializer_list<int64_t> ids) {
    auto found = index.Lookup(Keys(ids));
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    std::vector<std::string> out;
    for (const auto& f : *found) out.push_back(f ? f->file_path + "#" + std::to_string(f->pos) : "-");
    return out;
  }
  static std::string At(const DataFile& f, int64_t pos) { return f.file_path + "#" + std::to_string(pos); }

  FakeClock clock_;
  std::shared_ptr<io::MemoryFileIO> io_ = std::make_shared<io::MemoryFileIO>(&clock_);
  iceberg::TableMetadata meta_;
  std::optional<TempDir> dir_;
};

TEST_F(KeyIndexTest, TheWriterSaysWhereEachRowWent) {
  // Rows of two partitions, interleaved, over several files of each; in one Write, in Writes of
  // one row, and in Writes that end inside a file.
  std::vector<Row> rows;
  for (int i = 0; i < 9; ++i) rows.push_back(R(i, "v" + std::to_string(i), i % 2));
  for (size_t per_write : {SIZE_MAX, size_t{1}, size_t{3}}) {
    iceberg::PartitionedWriter::RowLocations where;
    const auto files = Data(rows, &where, per_write);
    ASSERT_GE(files.size(), 4u);
    ASSERT_EQ(where.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      auto read = iceberg::ReadDataFile(io_, files[where[i].file].file_path,
                                        meta_.CurrentSchema()->fields());
      ASSERT_TRUE(read.ok());
      ASSERT_LT(static_cast<size_t>(where[i].pos), read->size());
      EXPECT_EQ((*read)[static_cast<size_t>(where[i].pos)], rows[i])
          << "row " << i << ", " << per_write << " per write";
    }
  }
}

TEST_F(KeyIndexTest, UpdatesPersistAcrossReopenAndOneProcessHoldsIt) {
  const auto files = Data({R(1, "a"), R(2, "b", 2)});
  auto index = Open();
  ASSERT_NE(index, nullptr);
  EXPECT_FALSE(index->snapshot_id().has_value());
  PG2I_ASSERT_OK(index->Sync(io_, meta_, {1}).status());  // an empty table: nothing to index
  EXPECT_EQ(index->snapshot_id(), -1);
  IndexUpdate u;
  u.added = {{{Value(int64_t{1})}, RowLocation{files[0].file_path, 0, files[0].partition, 0}},
             {{Value(int64_t{2})}, RowLocation{files.back().file_path, 0, files.back().partition, 0}}};
  PG2I_ASSERT_OK(index->Apply(u, 7));
  IndexUpdate del;
  del.removed = {{Value(int64_t{1})}};
  PG2I_ASSERT_OK(index->Apply(del, 8));
  EXPECT_EQ(Where(*index, {1, 2, 3}), (std::vector<std::string>{"-", At(files.back(), 0), "-"}));
  // A second process cannot open it meanwhile.
  auto second = KeyIndex::Open((dir_->path() / "idx").string());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
  index.reset();
  index = Open();
  EXPECT_EQ(index->snapshot_id(), 8);
  auto found = index->Lookup(Keys({2}));
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE((*found)[0].has_value());
  EXPECT_EQ((*found)[0]->partition, files.back().partition);  // what a position delete needs
  EXPECT_EQ((*found)[0]->spec_id, 0);
  // A truncate empties the index but keeps its key: no rebuild follows.
  IndexUpdate truncate;
  truncate.cleared = true;
  PG2I_ASSERT_OK(index->Apply(truncate, -1));
  EXPECT_EQ(Where(*index, {2}), (std::vector<std::string>{"-"}));
  auto after = index->Sync(io_, meta_, {1});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->kind, SyncStats::Kind::kCurrent);
  // A key column widened from int to long keeps its entries.
  EXPECT_EQ(KeyIndex::EncodeKey({Value(int32_t{2})}), KeyIndex::EncodeKey({Value(int64_t{2})}));
}

// A kill while the index's files were written or deleted (a restore from a checkpoint, a
// rebuild's clear) can leave CURRENT naming a MANIFEST that is gone; every later start failed
// to open it and the table stopped (crash_test, KillAfterARewriteWasReportedThenRecover). It
// is a cache: it is created again, empty, for Sync to rebuild. Another process holding it is
// still refused, and its files are left alone.
TEST_F(KeyIndexTest, AnIndexThatCannotBeOpenedIsCreatedAgainButAHeldOneIsNot) {
  const std::string dir = (dir_->path() / "idx").string();
  {
    auto index = Open();
    ASSERT_NE(index, nullptr);
    IndexUpdate u;
    u.added = {{{Value(int64_t{1})}, RowLocation{"f", 0, {}, 0}}};
    PG2I_ASSERT_OK(index->Apply(u, 7));
    Status recreated;
    auto second = KeyIndex::OpenOrRecreate(dir, &recreated);
    EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
    PG2I_EXPECT_OK(recreated);
  }
  int removed = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) {
      std::filesystem::remove(e.path());
      ++removed;
    }
  }
  ASSERT_GT(removed, 0);
  EXPECT_FALSE(KeyIndex::Open(dir).ok());
  Status recreated;
  auto index = KeyIndex::OpenOrRecreate(dir, &recreated);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_FALSE(recreated.ok());
  EXPECT_FALSE((*index)->snapshot_id().has_value());  // empty: Sync rebuilds it
  auto synced = (*index)->Sync(io_, meta_, {1});
  ASSERT_TRUE(synced.ok()) << synced.status().ToString();
  EXPECT_EQ(synced->kind, SyncStats::Kind::kRebuilt);
}

TEST_F(KeyIndexTest, SyncRebuildsFromTheTableAndCatchesUpWithCompactions) {
  const auto first = Data({R(1, "a"), R(2, "b"), R(3, "c"), R(4, "d")});
  iceberg::SnapshotChange c1;
  c1.added_data = first;
  Commit(c1);
  // Another engine deletes key 2 by position (row 1 of the first file).
  iceberg::SnapshotChange c2;
  c2.added_deletes = PosDeletes(first[0], {1});
  Commit(c2);

  auto index = Open();
  auto stats = index->Sync(io_, meta_, {1});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->kind, SyncStats::Kind::kRebuilt);
  EXPECT_EQ(stats->keys, 3);
  EXPECT_EQ(Where(*index, {1, 2, 3}), (std::vector<std::string>{At(first[0], 0), "-", At(first[1], 0)}));
  stats = index->Sync(io_, meta_, {1});
  EXPECT_EQ(stats->kind, SyncStats::Kind::kCurrent);

  // A compaction: the same live rows in one new file.
  iceberg::PartitionedWriter::RowLocations where;
  auto w = iceberg::PartitionedWriter::MakeData(io_, meta_);
  ASSERT_TRUE(w.ok());
  PG2I_ASSERT_OK((*w)->Write(std::vector<Row>{R(4, "d"), R(3, "c"), R(1, "a")}));
  auto compacted = *(*w)->Close();
  iceberg::SnapshotChange c3;
  c3.added_data = compacted;
  for (const auto& f : first) c3.removed_paths.insert(f.file_path);
  for (const auto& f : c2.added_deletes) c3.removed_paths.insert(f.file_path);
  c3.operation = "replace";
  Commit(c3);
  stats = index->Sync(io_, meta_, {1});
  EXPECT_EQ(stats->kind, SyncStats::Kind::kCaughtUp);
  EXPECT_EQ(Where(*index, {1, 2, 3, 4}),
            (std::vector<std::string>{At(compacted[0], 2), "-", At(compacted[0], 1), At(compacted[0], 0)}));

  // Another writer appends: the index does not know its rows, so it is rebuilt.
  iceberg::SnapshotChange c4;
  c4.added_data = Data({R(9, "z")});
  Commit(c4);
  stats = index->Sync(io_, meta_, {1});
  EXPECT_EQ(stats->kind, SyncStats::Kind::kRebuilt);
  EXPECT_NE(Where(*index, {9})[0], "-");
  EXPECT_EQ(Where(*index, {2})[0], "-");
  // So is an index of another key.
  stats = index->Sync(io_, meta_, {1, 3});
  EXPECT_EQ(stats->kind, SyncStats::Kind::kRebuilt);
  // And one that was invalidated.
  PG2I_ASSERT_OK(index->Invalidate());
  stats = index->Sync(io_, meta_, {1});
  EXPECT_EQ(stats->kind, SyncStats::Kind::kRebuilt);
  EXPECT_EQ(stats->keys, 4);
}


TEST_F(KeyIndexTest, RowsAreReadByPositionFromTheirRowGroupsOnly) {
  std::vector<Row> rows;
  for (int i = 0; i < 50; ++i) rows.push_back(R(i, "v" + std::to_string(i), 1));
  iceberg::ParquetWriteOptions o;
  o.slice_rows = 4;
  o.row_group_size = 1;  // a row group per slice
  o.new_file_uri = iceberg::UniqueFileUris(std::string(kLoc) + "/data");
  auto w = iceberg::DataFileWriter::MakeDataWriter(io_, *meta_.CurrentSchema(), o);
  ASSERT_TRUE(w.ok());
  PG2I_ASSERT_OK((*w)->Write(rows));
  auto files = (*w)->Close();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  const std::string path = (*files)[0].file_path;
  auto read = iceberg::ReadDataFileRows(io_, path, meta_.CurrentSchema()->fields(), {0, 5, 6, 49});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, (std::vector<Row>{rows[0], rows[5], rows[6], rows[49]}));
  iceberg::ParquetReadOptions ro;
  ro.positions = {5, 6};
  auto reader = iceberg::DataFileReader::Open(io_, path, meta_.CurrentSchema()->fields(), ro);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->row_groups_read(), (std::vector<std::pair<int64_t, int64_t>>{{4, 4}}));
  EXPECT_EQ(iceberg::ReadDataFileRows(io_, path, meta_.CurrentSchema()->fields(), {50}).status().code(),
            StatusCode::kDataLoss);
}

TEST_F(KeyIndexTest, ACheckpointNextToTheTableRestoresTheIndexElsewhere) {
  const auto files = Data({R(1, "a"), R(2, "b", 2)});
  auto index = Open();
  ASSERT_NE(index, nullptr);
  IndexUpdate u;
  u.added = {{{Value(int64_t{1})}, RowLocation{files[0].file_path, 0, files[0].partition, 0}},
             {{Value(int64_t{2})}, RowLocation{files.back().file_path, 0, files.back().partition, 0}}};
  PG2I_ASSERT_OK(index->Apply(u, 7));
  const std::string prefix = KeyIndex::CheckpointPrefix("mem://wh/db/t/");
  EXPECT_EQ(prefix, "mem://wh/db/t/metadata/pg2iceberg-key-index");
  auto first = index->Checkpoint(io_.get(), prefix);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_GT(*first, 0);
  // Nothing to restore where there is no checkpoint.
  auto none = KeyIndex::Restore(io_.get(), "mem://wh/db/other/metadata/pg2iceberg-key-index",
                                (dir_->path() / "none").string());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);

  IndexUpdate del;
  del.removed = {{Value(int64_t{1})}};
  PG2I_ASSERT_OK(index->Apply(del, 8));
  auto second = index->Checkpoint(io_.get(), prefix);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  // One description is left, and every file it names exists.
  auto listed = io_->List(prefix);
  ASSERT_TRUE(listed.ok());
  int descriptions = 0;
  for (const auto& e : *listed) descriptions += e.uri.find("/checkpoint-") != std::string::npos;
  EXPECT_EQ(descriptions, 1);

  // Another machine: restored, it reflects snapshot 8 and answers as the original does.
  const std::string elsewhere = (dir_->path() / "elsewhere").string();
  auto restored = KeyIndex::Restore(io_.get(), prefix, elsewhere);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  ASSERT_TRUE(*restored);
  auto copy = KeyIndex::Open(elsewhere);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ((*copy)->snapshot_id(), 8);
  EXPECT_EQ(Where(**copy, {1, 2}), Where(*index, {1, 2}));
  EXPECT_EQ(Where(**copy, {1, 2}), (std::vector<std::string>{"-", At(files.back(), 0)}));
}

}  // namespace
}  // namespace pg2iceberg::index

#include "upkeep/compactor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "catalog/memory_catalog.h"
#include "fixtures/gtest_support.h"
#include "iceberg/parquet_io.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/puffin.h"
#include "iceberg/snapshot_producer.h"
#include "iceberg/table_scan.h"
#include "io/memory_file_io.h"

namespace pg2iceberg::upkeep {
namespace {

using iceberg::DataFile;
using iceberg::FileContent;
using iceberg::ManifestEntry;
using Row = std::vector<Value>;

// A table of (id long key, v string, p int) on the in-memory catalog and FileIO, written the
// way the materializer writes: each commit adds the new versions of rows and an equality
// delete of their keys.
class CompactorTest : public ::testing::Test {
 protected:
  void Create(bool partitioned) {
    iceberg::Schema schema(
        0,
        {iceberg::Field{1, "id", true, iceberg::DataType::Primitive(Type{TypeId::kLong}), "", {}, {}},
         iceberg::Field{2, "v", false, iceberg::DataType::Primitive(Type{TypeId::kString}), "", {}, {}},
         iceberg::Field{3, "p", false, iceberg::DataType::Primitive(Type{TypeId::kInt}), "", {}, {}}},
        {1});
    catalog::CreateTableRequest req;
    req.schema = schema;
    if (partitioned) req.spec = iceberg::PartitionSpec{0, {{3, 1000, "p", "identity"}}};
    ASSERT_TRUE(catalog_.CreateTable(ident_, req).ok());
  }

  // Upserts `rows` (and deletes `deleted` keys) in one commit.
  void Upsert(const std::vector<Row>& rows, const std::vector<int64_t>& deleted = {}) {
    auto t = catalog_.LoadTable(ident_);
    ASSERT_TRUE(t.ok());
    iceberg::SnapshotChange change;
    if (!rows.empty()) {
      auto w = iceberg::PartitionedWriter::MakeData(io_, t->metadata);
      ASSERT_TRUE(w.ok());
      ASSERT_TRUE((*w)->Write(rows).ok());
      change.added_data = *(*w)->Close();
    }
    auto d = iceberg::PartitionedWriter::MakeEqualityDeletes(io_, t->metadata);
    ASSERT_TRUE(d.ok());
    std::vector<Row> keys;
    for (const Row& r : rows) keys.push_back({r[0]});
    for (int64_t k : deleted) keys.push_back({Value(k)});
    if (t->metadata.DefaultSpec()->unpartitioned()) {
      ASSERT_TRUE((*d)->WriteTo({}, keys).ok());
    } else {
      // Partition-scoped deletes: each key in its row's partition.
      ASSERT_TRUE(deleted.empty());
      for (const Row& r : rows) {
        const std::vector<Row> key = {Row{r[0]}};
        ASSERT_TRUE((*d)->WriteTo(*(*d)->PartitionOf(r), key).ok());
      }
    }
    change.added_deletes = *(*d)->Close();
    Commit(std::move(change));
  }

  void Commit(iceberg::SnapshotChange change) {
    iceberg::SnapshotProducer p(io_.get(), nullptr, std::move(change));
    auto t = catalog_.LoadTable(ident_);
    ASSERT_TRUE(t.ok());
    auto pending = p.Produce(t->metadata);
    ASSERT_TRUE(pending.ok()) << pending.status().ToString();
    auto c = catalog_.CommitTable({ident_, pending->requirements, pending->updates});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
  }

  // The live rows by key, as a merge-on-read reader sees them (iceberg::TableScan).
  std::map<int64_t, Row> Read() {
    auto t = catalog_.LoadTable(ident_);
    EXPECT_TRUE(t.ok());
    auto scan = iceberg::TableScan::Plan(io_, t->metadata);
    EXPECT_TRUE(scan.ok()) << scan.status().ToString();
    auto rows = scan->ReadAll(t->metadata.CurrentSchema()->fields());
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    std::map<int64_t, Row> out;
    for (Row& row : *rows) {
      const int64_t id = std::get<int64_t>(row[0]);
      EXPECT_FALSE(out.count(id)) << "key " << id << " live twice";
      out[id] = row;
    }
    return out;
  }

  int Count(FileContent content) {
    auto t = catalog_.LoadTable(ident_);
    int n = 0;
    auto live = iceberg::LiveEntries(io_.get(), t->metadata);
    for (const ManifestEntry& e : *live) {
      n += e.file.content == content;
    }
    return n;
  }

  static Row R(int64_t id, const std::string& v, int32_t p = 1) { return {Value(id), Value(v), Value(p)}; }

  std::shared_ptr<io::MemoryFileIO> io_ = std::make_shared<io::MemoryFileIO>();
  catalog::MemoryCatalog catalog_{"mem://wh"};
  catalog::TableIdent ident_{{"db"}, "t"};
};

TEST_F(CompactorTest, RewritesEveryLiveRowIntoOneFileAndDropsTheDeletes) {
  Create(false);
  Upsert({R(1, "a"), R(2, "b"), R(3, "c"), R(4, "d")});
  Upsert({R(2, "b2")});
  Upsert({}, {3});
  Upsert({R(5, "e"), R(2, "b3")});
  const auto before = Read();
  ASSERT_EQ(before.size(), 4u);
  ASSERT_EQ(Count(FileContent::kData), 3);
  ASSERT_EQ(Count(FileContent::kEqualityDeletes), 4);

  CompactionOptions o;
  o.all = true;
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  EXPECT_EQ(r.skipped, "");
  EXPECT_EQ(r.data_files_read, 3);
  EXPECT_EQ(r.data_files_written, 1);
  EXPECT_EQ(r.rows_read, 7);
  EXPECT_EQ(r.rows_written, 4);
  EXPECT_EQ(r.delete_files_removed, 4);
  EXPECT_EQ(Read(), before);
  EXPECT_EQ(Count(FileContent::kData), 1);
  EXPECT_EQ(Count(FileContent::kEqualityDeletes), 0);
  auto t = catalog_.LoadTable(ident_);
  EXPECT_EQ(t->metadata.CurrentSnapshot()->summary.at("operation"), "replace");

  // Nothing left to do.
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult again, CompactTable(catalog_, io_, ident_, o));
  EXPECT_EQ(again.skipped, "no partition reached the thresholds");
}

// An equality delete committed while the rewrite runs still applies to the rewritten rows:
// they keep the data sequence number of the snapshot the rewrite read.
TEST_F(CompactorTest, ADeleteCommittedDuringTheRewriteStillApplies) {
  Create(false);
  Upsert({R(1, "a"), R(2, "b"), R(3, "c")});
  Upsert({R(2, "b2")});
  bool injected = false;
  catalog_.before_commit = [&](const catalog::TableCommit&) {
    if (injected) return;
    injected = true;
    Upsert({R(4, "new")}, {1});  // deletes key 1, adds key 4, while the compaction commits
  };
  CompactionOptions o;
  o.all = true;
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  catalog_.before_commit = nullptr;
  EXPECT_TRUE(injected);
  EXPECT_GE(r.snapshot_id, 0);
  const auto after = Read();
  EXPECT_FALSE(after.count(1)) << "a delete committed during compaction was lost";
  ASSERT_TRUE(after.count(2));
  EXPECT_EQ(std::get<std::string>(after.at(2)[1]), "b2");
  EXPECT_TRUE(after.count(3));
  EXPECT_TRUE(after.count(4));
  EXPECT_EQ(after.size(), 3u);
}

// A rewritten file removed meanwhile (a TRUNCATE, a resync's copy) makes the rewrite be
// planned again on the new state, never resurrect the removed rows.
TEST_F(CompactorTest, AFileRemovedDuringTheRewriteMakesItPlanAgain) {
  Create(false);
  Upsert({R(1, "a"), R(2, "b")});
  Upsert({R(3, "c")});
  bool injected = false;
  catalog_.before_commit = [&](const catalog::TableCommit&) {
    if (injected) return;
    injected = true;
    iceberg::SnapshotChange truncate;
    truncate.remove_all = true;
    Commit(truncate);
    Upsert({R(9, "after")});
  };
  CompactionOptions o;
  o.all = true;
  auto r = CompactTable(catalog_, io_, ident_, o);
  catalog_.before_commit = nullptr;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto after = Read();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_TRUE(after.count(9));
}

// The data file holding `rows` rows (the test's files differ in size).
std::string FileWithRows(io::FileIO* io, const iceberg::TableMetadata& m, int64_t rows) {
  auto live = iceberg::LiveEntries(io, m);
  if (!live.ok()) return "";
  for (const ManifestEntry& e : *live) {
    if (e.file.content == FileContent::kData && e.file.record_count == rows) return e.file.file_path;
  }
  return "";
}

// The materializer (position delete mode) deletes and updates rows of a file the compaction is
// rewriting: its position deletes are carried to the rewritten rows in the same commit, the
// compaction commits on its first plan, and no row comes back nor is live twice.
TEST_F(CompactorTest, PositionDeletesCommittedDuringTheRewriteAreCarriedToTheNewFiles) {
  Create(false);
  Upsert({R(1, "a"), R(2, "b"), R(3, "c"), R(4, "d")});
  Upsert({R(5, "e")});
  bool injected = false;
  catalog_.before_commit = [&](const catalog::TableCommit&) {
    if (injected) return;
    injected = true;
    auto t = catalog_.LoadTable(ident_);
    ASSERT_TRUE(t.ok());
    const std::string first = FileWithRows(io_.get(), t->metadata, 4);
    ASSERT_FALSE(first.empty());
    // Key 2 updated (its old row deleted by position, the new one added), key 3 deleted.
    iceberg::ParquetWriteOptions wo;
    wo.new_file_uri = iceberg::UniqueFileUris("mem://wh/db/t/data", "pos-");
    auto w = iceberg::PositionDeleteWriter::Make(io_, wo);
    ASSERT_TRUE(w.ok());
    (*w)->Add(first, 1);
    (*w)->Add(first, 2);
    iceberg::SnapshotChange c;
    c.added_deletes = *(*w)->Close();
    auto d = iceberg::PartitionedWriter::MakeData(io_, t->metadata);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE((*d)->Write(std::vector<Row>{R(2, "b2")}).ok());
    c.added_data = *(*d)->Close();
    Commit(c);
  };
  CompactionOptions o;
  o.all = true;
  o.max_plans = 1;  // no second plan: the first one must commit
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  catalog_.before_commit = nullptr;
  EXPECT_TRUE(injected);
  EXPECT_GE(r.snapshot_id, 0);
  EXPECT_EQ(r.deletes_carried, 2);
  EXPECT_EQ(Read(), (std::map<int64_t, Row>{{1, R(1, "a")}, {2, R(2, "b2")}, {4, R(4, "d")},
                                            {5, R(5, "e")}}));
  // The concurrent delete file named only replaced files: it went with them; the carried one
  // names the new file.
  auto t = catalog_.LoadTable(ident_);
  ASSERT_TRUE(t.ok());
  PG2I_ASSERT_OK_AND_ASSIGN(auto live, iceberg::LiveEntries(io_.get(), t->metadata));
  int position_deletes = 0;
  for (const ManifestEntry& e : live) {
    if (e.file.content != FileContent::kPositionDeletes) continue;
    ++position_deletes;
    PG2I_ASSERT_OK_AND_ASSIGN(auto by_file, iceberg::ReadPositionDeletes(io_, e.file));
    ASSERT_EQ(by_file.size(), 1u);
    EXPECT_EQ(by_file.begin()->first, FileWithRows(io_.get(), t->metadata, 5));
  }
  EXPECT_EQ(position_deletes, 1);
  // The next compaction applies the carried delete and drops it.
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult again, CompactTable(catalog_, io_, ident_, o));
  EXPECT_TRUE(again.skipped.empty()) << again.skipped;
  EXPECT_EQ(Read().size(), 4u);
  EXPECT_EQ(Count(FileContent::kPositionDeletes), 0);
}

// Format v3: the materializer merges a replaced file's deletion vector into a new one (the old
// one, which the rewrite applied, removed) while the compaction runs: the new rows it deletes
// are carried as a deletion vector of the new file, and neither vector of the replaced file
// stays behind.
TEST_F(CompactorTest, AMergedDeletionVectorCommittedDuringTheRewriteIsCarried) {
  Create(false);
  Upsert({R(1, "a"), R(2, "b"), R(3, "c"), R(4, "d")});
  ASSERT_TRUE(catalog_.CommitTable({ident_, {}, {iceberg::TableUpdate::UpgradeFormatVersion(3)}}).ok());
  auto t = catalog_.LoadTable(ident_);
  ASSERT_TRUE(t.ok());
  const std::string first = FileWithRows(io_.get(), t->metadata, 4);
  ASSERT_FALSE(first.empty());
  PG2I_ASSERT_OK_AND_ASSIGN(
      auto dv1, iceberg::DeletionVectorWriter::Write(io_.get(), "mem://wh/db/t/data/dv1.puffin",
                                                     {{first, 0, {}, {0}}}));
  iceberg::SnapshotChange c1;
  c1.added_deletes = dv1;
  Commit(c1);
  ASSERT_EQ(Read().size(), 3u);  // key 1 deleted
  bool injected = false;
  catalog_.before_commit = [&](const catalog::TableCommit&) {
    if (injected) return;
    injected = true;
    // Key 3 updated: the vector of the file now deletes positions 0 and 2.
    auto dv2 = iceberg::DeletionVectorWriter::Write(io_.get(), "mem://wh/db/t/data/dv2.puffin",
                                                    {{first, 0, {}, {0, 2}}});
    ASSERT_TRUE(dv2.ok());
    iceberg::SnapshotChange c2;
    c2.added_deletes = *dv2;
    c2.removed_paths.insert(iceberg::FileKey(dv1[0]));
    auto now = catalog_.LoadTable(ident_);
    ASSERT_TRUE(now.ok());
    auto d = iceberg::PartitionedWriter::MakeData(io_, now->metadata);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE((*d)->Write(std::vector<Row>{R(3, "c2")}).ok());
    c2.added_data = *(*d)->Close();
    Commit(c2);
  };
  CompactionOptions o;
  o.all = true;
  o.max_plans = 1;
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  catalog_.before_commit = nullptr;
  EXPECT_TRUE(injected);
  EXPECT_EQ(r.deletes_carried, 1);
  EXPECT_EQ(Read(), (std::map<int64_t, Row>{{2, R(2, "b")}, {3, R(3, "c2")}, {4, R(4, "d")}}));
  auto after = catalog_.LoadTable(ident_);
  ASSERT_TRUE(after.ok());
  PG2I_ASSERT_OK_AND_ASSIGN(auto live, iceberg::LiveEntries(io_.get(), after->metadata));
  int vectors = 0;
  for (const ManifestEntry& e : live) {
    if (e.file.content != FileContent::kPositionDeletes) continue;
    ++vectors;
    ASSERT_TRUE(iceberg::IsDeletionVector(e.file));
    EXPECT_NE(*e.file.referenced_data_file, first);
  }
  EXPECT_EQ(vectors, 1);
}

// In its commit turn (other committers of the table wait) the compaction commits on the table
// as it is then: a commit that landed before the turn came costs no lost attempt, and the
// commit happens inside the turn, which it ends.
TEST_F(CompactorTest, TheCommitRunsInTheTablesTurnOnTheTableAsItIsThen) {
  Create(false);
  Upsert({R(1, "a"), R(2, "b")});
  Upsert({R(3, "c")});
  bool in_turn = false;
  int turns = 0, commits = 0, commits_in_turn = 0;
  CompactionOptions o;
  o.all = true;
  o.take_commit_turn = [&](const std::string& ident) -> Result<bool> {
    EXPECT_EQ(ident, "db.t");
    ++turns;
    Upsert({R(4, "d")});  // committed while the compaction waited for its turn
    in_turn = true;
    return true;
  };
  o.end_commit_turn = [&](const std::string&) { in_turn = false; };
  catalog_.before_commit = [&](const catalog::TableCommit&) {
    ++commits;
    commits_in_turn += in_turn;
  };
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  catalog_.before_commit = nullptr;
  EXPECT_GE(r.snapshot_id, 0);
  EXPECT_EQ(turns, 1);
  EXPECT_EQ(commits, 2);  // the upsert's and the compaction's: no attempt lost to the upsert
  EXPECT_EQ(commits_in_turn, 1);
  EXPECT_FALSE(in_turn);
  EXPECT_EQ(Read().size(), 4u);
}

TEST_F(CompactorTest, ThresholdsDecideWhichPartitionsAreRewrittenAndPartitionsAreKept) {
  Create(true);
  for (int i = 0; i < 3; ++i) {
    Upsert({R(10 + i, "x", 1), R(20 + i, "y", 2)});
  }
  Upsert({R(30, "z", 3)});
  const auto before = Read();
  CompactionOptions o;
  o.min_data_files = 3;
  o.min_delete_files = 100;
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  EXPECT_EQ(r.partitions, 2);  // p=1 and p=2 have three files each; p=3 one
  EXPECT_EQ(r.data_files_read, 6);
  EXPECT_EQ(Read(), before);
  auto t = catalog_.LoadTable(ident_);
  std::map<int32_t, int> files_per_partition;
  auto live = iceberg::LiveEntries(io_.get(), t->metadata);
  for (const ManifestEntry& e : *live) {
    if (e.file.content != FileContent::kData) continue;
    ASSERT_EQ(e.file.partition.size(), 1u);
    ++files_per_partition[std::get<int32_t>(e.file.partition[0])];
    // Every row of a file is in the file's partition.
    auto rows = *(*iceberg::DataFileReader::Open(io_, e.file.file_path,
                                                 t->metadata.CurrentSchema()->fields()))
                     ->ReadAllRows();
    for (const Row& row : rows) EXPECT_EQ(row[2], e.file.partition[0]);
  }
  EXPECT_EQ(files_per_partition, (std::map<int32_t, int>{{1, 1}, {2, 1}, {3, 1}}));
  // The deletes of p=1 and p=2 went with their rewrite, and p=3's (it applies to no data
  // file: none is older) with the same commit.
  EXPECT_EQ(Count(FileContent::kEqualityDeletes), 0);
}

// Position deletes another engine wrote (a merge-on-read DELETE): applied by position, and
// dropped once every file they reach is rewritten; deletion vectors too.
TEST_F(CompactorTest, PositionDeletesAreAppliedAndGoWithTheFilesTheyReach) {
  Create(false);
  Upsert({R(1, "a"), R(2, "b"), R(3, "c")});
  Upsert({R(4, "d")});
  auto t = catalog_.LoadTable(ident_);
  ASSERT_TRUE(t.ok());
  auto live = iceberg::LiveEntries(io_.get(), t->metadata);
  ASSERT_TRUE(live.ok());
  std::string first;
  for (const ManifestEntry& e : *live) {
    if (e.file.content == FileContent::kData && e.file.record_count == 3) first = e.file.file_path;
  }
  ASSERT_FALSE(first.empty());
  iceberg::ParquetWriteOptions wo;
  wo.new_file_uri = iceberg::UniqueFileUris("mem://wh/db/t/data", "pos-");
  auto w = iceberg::PositionDeleteWriter::Make(io_, wo);
  ASSERT_TRUE(w.ok());
  (*w)->Add(first, 1);  // row 2
  iceberg::SnapshotChange c;
  c.added_deletes = *(*w)->Close();
  Commit(c);
  EXPECT_EQ(Read(), (std::map<int64_t, Row>{{1, R(1, "a")}, {3, R(3, "c")}, {4, R(4, "d")}}));
  CompactionOptions o;
  o.all = true;
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  EXPECT_TRUE(r.skipped.empty()) << r.skipped;
  EXPECT_EQ(Read(), (std::map<int64_t, Row>{{1, R(1, "a")}, {3, R(3, "c")}, {4, R(4, "d")}}));
  EXPECT_EQ(Count(FileContent::kPositionDeletes), 0);
  EXPECT_EQ(Count(FileContent::kEqualityDeletes), 0);
  EXPECT_EQ(Count(FileContent::kData), 1);

  // A deletion vector (format v3, Puffin) is applied and removed the same way.
  ASSERT_TRUE(catalog_.CommitTable({ident_, {}, {iceberg::TableUpdate::UpgradeFormatVersion(3)}}).ok());
  auto now = catalog_.LoadTable(ident_);
  ASSERT_TRUE(now.ok());
  PG2I_ASSERT_OK_AND_ASSIGN(auto entries, iceberg::LiveEntries(io_.get(), now->metadata));
  ASSERT_EQ(entries.size(), 1u);
  PG2I_ASSERT_OK_AND_ASSIGN(
      auto dvs, iceberg::DeletionVectorWriter::Write(io_.get(), "mem://wh/db/t/data/dv.puffin",
                                                     {{entries[0].file.file_path, 0, {}, {1}}}));
  iceberg::SnapshotChange with_dv;
  with_dv.added_deletes = dvs;
  Commit(with_dv);
  const auto before = Read();
  EXPECT_EQ(before.size(), 2u);  // the row at position 1 is gone
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult again, CompactTable(catalog_, io_, ident_, o));
  EXPECT_TRUE(again.skipped.empty()) << again.skipped;
  EXPECT_EQ(Read(), before);
  EXPECT_EQ(Count(FileContent::kPositionDeletes), 0);
  // Row lineage (v3): the rows kept their row ids (the first row id the vector's commit gave
  // the file, 0, plus their positions) and the sequence number that last updated them.
  auto after = catalog_.LoadTable(ident_);
  ASSERT_TRUE(after.ok());
  PG2I_ASSERT_OK_AND_ASSIGN(auto live_after, iceberg::LiveEntries(io_.get(), after->metadata));
  ASSERT_EQ(live_after.size(), 1u);
  const auto lng = iceberg::DataType::Primitive(Type{TypeId::kLong});
  PG2I_ASSERT_OK_AND_ASSIGN(
      auto lineage,
      iceberg::ReadDataFile(io_, live_after[0].file.file_path,
                            {iceberg::Field{iceberg::kRowIdFieldId, "_row_id", false, lng, "", {}, {}},
                             iceberg::Field{iceberg::kLastUpdatedSequenceNumberFieldId,
                                            "_last_updated_sequence_number", false, lng, "", {}, {}}}));
  const Value seq = Value(*entries[0].sequence_number);
  EXPECT_EQ(lineage, (std::vector<Row>{{Value(int64_t{0}), seq}, {Value(int64_t{2}), seq}}));
}

// Files without equality deletes are moved as Arrow batches: positions past the first batch
// (64Ki rows) are dropped at the right rows, each file's rows stay in its partition, and row
// lineage is filled from the file's first row id plus the row's position in the file.
TEST_F(CompactorTest, RowsMovedAsBatchesKeepPositionsPartitionsAndRowIds) {
  Create(true);
  ASSERT_TRUE(
      catalog_.CommitTable({ident_, {}, {iceberg::TableUpdate::UpgradeFormatVersion(3)}}).ok());
  constexpr int64_t kRows = 70'000;
  std::vector<Row> rows;
  for (int64_t i = 0; i < kRows; ++i) rows.push_back(R(i, "v" + std::to_string(i), 1));
  for (int64_t i = kRows; i < kRows + 10; ++i) rows.push_back(R(i, "w", 2));
  std::vector<Row> more;  // a second file in partition 2, so that it is rewritten too
  for (int64_t i = kRows + 10; i < kRows + 20; ++i) more.push_back(R(i, "x", 2));
  for (const std::vector<Row>* commit : {&rows, &more}) {
    auto t = catalog_.LoadTable(ident_);
    ASSERT_TRUE(t.ok());
    PG2I_ASSERT_OK_AND_ASSIGN(auto w, iceberg::PartitionedWriter::MakeData(io_, t->metadata));
    ASSERT_TRUE(w->Write(*commit).ok());
    iceberg::SnapshotChange c;
    PG2I_ASSERT_OK_AND_ASSIGN(c.added_data, w->Close());
    Commit(std::move(c));
  }
  auto t = catalog_.LoadTable(ident_);
  ASSERT_TRUE(t.ok());
  PG2I_ASSERT_OK_AND_ASSIGN(auto entries, iceberg::LiveEntries(io_.get(), t->metadata));
  ASSERT_EQ(entries.size(), 3u);
  const ManifestEntry* found = nullptr;
  for (const ManifestEntry& e : entries) {
    if (e.file.record_count == kRows) found = &e;
  }
  ASSERT_NE(found, nullptr);
  const ManifestEntry big = *found;
  ASSERT_TRUE(big.file.first_row_id.has_value());
  PG2I_ASSERT_OK_AND_ASSIGN(
      auto dvs, iceberg::DeletionVectorWriter::Write(
                    io_.get(), "mem://wh/db/t/data/dv.puffin",
                    {{big.file.file_path, big.file.spec_id, big.file.partition, {1, 66'000}}}));
  iceberg::SnapshotChange with_dv;
  with_dv.added_deletes = dvs;
  Commit(with_dv);

  // While the rewrite runs, rows 2 and 67,000 are deleted too (the file's vector merged into
  // a new one): carried to where the rewrite put them, in and after its first batch.
  bool injected = false;
  catalog_.before_commit = [&](const catalog::TableCommit&) {
    if (injected) return;
    injected = true;
    auto merged = iceberg::DeletionVectorWriter::Write(
        io_.get(), "mem://wh/db/t/data/dv2.puffin",
        {{big.file.file_path, big.file.spec_id, big.file.partition, {1, 2, 66'000, 67'000}}});
    ASSERT_TRUE(merged.ok());
    iceberg::SnapshotChange c;
    c.added_deletes = *merged;
    c.removed_paths.insert(iceberg::FileKey(dvs[0]));
    Commit(c);
  };
  CompactionOptions o;
  o.all = true;
  o.max_plans = 1;  // the first plan must commit
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  catalog_.before_commit = nullptr;
  EXPECT_TRUE(injected);
  EXPECT_TRUE(r.skipped.empty()) << r.skipped;
  EXPECT_EQ(r.rows_written, kRows + 20 - 2);
  EXPECT_EQ(r.partitions, 2);
  EXPECT_EQ(r.deletes_carried, 2);
  const auto after = Read();
  EXPECT_EQ(after.size(), static_cast<size_t>(kRows + 20 - 4));
  for (int64_t gone : {1, 2, 66'000, 67'000}) EXPECT_FALSE(after.count(gone)) << gone;
  for (int64_t kept : {0, 3, 65'999, 66'001, 66'999, 67'001}) {
    EXPECT_TRUE(after.count(kept)) << kept;
  }
  // The next pass applies the carried vector.
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult again, CompactTable(catalog_, io_, ident_, o));
  EXPECT_TRUE(again.skipped.empty()) << again.skipped;
  EXPECT_EQ(Read(), after);
  EXPECT_EQ(Count(FileContent::kPositionDeletes), 0);

  auto now = catalog_.LoadTable(ident_);
  ASSERT_TRUE(now.ok());
  PG2I_ASSERT_OK_AND_ASSIGN(auto live, iceberg::LiveEntries(io_.get(), now->metadata));
  const auto lng = iceberg::DataType::Primitive(Type{TypeId::kLong});
  const std::vector<iceberg::Field> read = {
      iceberg::Field{1, "id", true, lng, "", {}, {}},
      iceberg::Field{3, "p", false, iceberg::DataType::Primitive(Type{TypeId::kInt}), "", {}, {}},
      iceberg::Field{iceberg::kRowIdFieldId, "_row_id", false, lng, "", {}, {}}};
  int files = 0;
  for (const ManifestEntry& e : live) {
    if (e.file.content != FileContent::kData) continue;
    ++files;
    PG2I_ASSERT_OK_AND_ASSIGN(auto got, iceberg::ReadDataFile(io_, e.file.file_path, read));
    ASSERT_FALSE(got.empty());
    const Value p = got[0][1];
    EXPECT_EQ(e.file.partition, std::vector<Value>{p});
    for (const Row& row : got) {
      EXPECT_EQ(row[1], p) << "a file holds rows of two partitions";
      const int64_t id = std::get<int64_t>(row[0]);
      if (id < kRows) {  // the big file's rows: its first row id + their position in it
        EXPECT_EQ(row[2], Value(*big.file.first_row_id + id)) << "id " << id;
      }
    }
  }
  EXPECT_EQ(files, 2);
}

// Equality deletes written on a key column that was later widened from int to long (Iceberg
// Java misreads those): compaction applies them with the promoted type and removes them.
TEST_F(CompactorTest, DeletesOnAWidenedKeyAreAppliedAndRemoved) {
  iceberg::Schema narrow(
      0,
      {iceberg::Field{1, "id", true, iceberg::DataType::Primitive(Type{TypeId::kInt}), "", {}, {}},
       iceberg::Field{2, "v", false, iceberg::DataType::Primitive(Type{TypeId::kString}), "", {}, {}}},
      {1});
  catalog::CreateTableRequest req;
  req.schema = narrow;
  ASSERT_TRUE(catalog_.CreateTable(ident_, req).ok());
  auto upsert = [&](const std::vector<Row>& rows) {
    auto t = catalog_.LoadTable(ident_);
    iceberg::SnapshotChange change;
    auto w = iceberg::PartitionedWriter::MakeData(io_, t->metadata);
    ASSERT_TRUE((*w)->Write(rows).ok());
    change.added_data = *(*w)->Close();
    auto d = iceberg::PartitionedWriter::MakeEqualityDeletes(io_, t->metadata);
    std::vector<Row> keys;
    for (const Row& r : rows) keys.push_back({r[0]});
    ASSERT_TRUE((*d)->WriteTo({}, keys).ok());
    change.added_deletes = *(*d)->Close();
    Commit(std::move(change));
  };
  upsert({{Value(int32_t{1}), Value(std::string("a"))}, {Value(int32_t{2}), Value(std::string("b"))}});
  upsert({{Value(int32_t{1}), Value(std::string("a2"))}});
  // Widen id to long.
  iceberg::Schema wide(
      1,
      {iceberg::Field{1, "id", true, iceberg::DataType::Primitive(Type{TypeId::kLong}), "", {}, {}},
       iceberg::Field{2, "v", false, iceberg::DataType::Primitive(Type{TypeId::kString}), "", {}, {}}},
      {1});
  auto t = catalog_.LoadTable(ident_);
  ASSERT_TRUE(catalog_
                  .CommitTable({ident_, {},
                                {iceberg::TableUpdate::AddSchema(wide, 2),
                                 iceberg::TableUpdate::SetCurrentSchema(-1)}})
                  .ok());
  const auto before = Read();
  ASSERT_EQ(before.size(), 2u);
  CompactionOptions o;
  o.all = true;
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  EXPECT_EQ(r.rows_written, 2);
  EXPECT_EQ(Count(FileContent::kEqualityDeletes), 0);
  const auto after = Read();
  EXPECT_EQ(after, before);
  EXPECT_EQ(std::get<std::string>(after.at(1)[1]), "a2");
}

// Files at the target size whose key ranges no delete can touch are left alone: the
// materializer's deletes are global, so only their bounds tell which files they may hit.
TEST_F(CompactorTest, LargeFilesThatNoDeleteCanTouchAreNotRewritten) {
  Create(false);
  Upsert({R(1, "a"), R(2, "b")});
  Upsert({R(30, "c")});
  CompactionOptions o;  // thresholds (with --all every file in a delete's scope is rewritten)
  o.min_data_files = 100;
  o.min_delete_files = 1;
  o.target_file_size = 100;  // every file counts as large
  PG2I_ASSERT_OK_AND_ASSIGN(CompactionResult r, CompactTable(catalog_, io_, ident_, o));
  // No data file is rewritten; the first commit's delete file, which applies to nothing (no
  // older data), goes.
  EXPECT_EQ(r.data_files_read, 0);
  EXPECT_EQ(r.delete_files_removed, 1);
  // A delete whose bounds overlap the first file makes that file (only) worth rewriting.
  Upsert({R(2, "b2")});
  PG2I_ASSERT_OK_AND_ASSIGN(r, CompactTable(catalog_, io_, ident_, o));
  EXPECT_EQ(r.skipped, "");
  EXPECT_EQ(r.data_files_read, 1);
  EXPECT_EQ(Read().at(2)[1], Value(std::string("b2")));
  EXPECT_EQ(Read().size(), 3u);
}

// A rewrite that writes longer than its limit (half the orphan grace) gives up before its
// commit: the table is as it was.
TEST_F(CompactorTest, ARewriteLongerThanItsLimitCommitsNothing) {
  Create(false);
  Upsert({R(1, "a")});
  Upsert({R(1, "b")});
  const int commits = catalog_.commits();
  CompactionOptions o;
  o.all = true;
  o.max_write_time = std::chrono::nanoseconds(1);
  auto r = CompactTable(catalog_, io_, ident_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("maintenance_grace"));
  EXPECT_EQ(catalog_.commits(), commits);
  EXPECT_EQ(Count(FileContent::kEqualityDeletes), 2);
}

}  // namespace
}  // namespace pg2iceberg::upkeep

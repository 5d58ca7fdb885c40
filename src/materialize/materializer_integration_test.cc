// The materializer against a real SQL catalog (PostgreSQL 15) and a local warehouse: commit
// fencing. A materializer whose batch became stale while it prepared it (another process
// committed past its start: it lost the pipeline's ownership, or is simply late) must not
// commit it on top of the newer state, which would write old values over newer ones.
#include <gtest/gtest.h>

#include <functional>
#include <optional>

#include "catalog/forwarding_catalog.h"
#include "catalog/sql_catalog.h"
#include "coord/memory_coordinator.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/temp_dir.h"
#include "iceberg/parquet_io.h"
#include "iceberg/puffin.h"
#include "iceberg/snapshot_producer.h"
#include "iceberg/table_scan.h"
#include "io/arrow_file_io.h"
#include "materialize/materializer.h"
#include "stage/staged_file.h"

namespace pg2iceberg::materialize {
namespace {

using fixtures::PgCluster;

// Delegates to a catalog, running a hook once before the next commit.
class HookedCatalog final : public catalog::ForwardingCatalog {
 public:
  using ForwardingCatalog::ForwardingCatalog;
  std::function<void()> before_commit;

  Result<catalog::LoadedTable> CommitTable(const catalog::TableCommit& c) override {
    bool has_snapshot = false;
    for (const auto& u : c.updates) {
      has_snapshot |= u.action == iceberg::TableUpdate::Action::kAddSnapshot;
    }
    if (has_snapshot && before_commit) {
      auto hook = std::move(before_commit);
      before_commit = nullptr;
      hook();
    }
    return inner()->CommitTable(c);
  }
};

class MaterializerFenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fixtures::StartForSuite(pg_, PgCluster::Start(), "PostgreSQL"); }
  static void TearDownTestSuite() { pg_.reset(); }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr) << "suite setup failed, see above";
    PG2I_ASSERT_OK_AND_ASSIGN(auto dir, fixtures::TempDir::Create("pg2i-fence-"));
    dir_ = std::make_unique<fixtures::TempDir>(std::move(dir));
    io_ = io::ArrowFileIO::MakeLocal();
    PG2I_ASSERT_OK_AND_ASSIGN(auto conn, pg::Connection::Connect(pg_->ConnString(), "test"));
    catalog::SqlCatalogOptions o;
    o.warehouse = "file://" + dir_->str() + "/wh";
    static int tests = 0;
    o.schema = "iceberg_" + std::to_string(tests++);  // a catalog of its own per test
    PG2I_ASSERT_OK_AND_ASSIGN(catalog_, catalog::SqlCatalog::Open(std::move(conn), io_, o));
    hooked_ = std::make_unique<HookedCatalog>(catalog_.get());
  }

  // Stages one file of `changes` (id, v) for public.t and registers it (`chunk`: as a chunk of
  // the table's copy).
  void Stage(const std::vector<std::pair<int32_t, std::string>>& rows, fold::Op op, uint64_t lsn,
             std::optional<int64_t> chunk = std::nullopt) {
    stage::StagedRelation rel;
    rel.table = "public.t";
    rel.columns = {{"id", 23, -1, Type{TypeId::kInt}, false, 1},
                   {"v", 25, -1, Type{TypeId::kString}, true, 2}};
    rel.key = {0};
    std::vector<stage::StagedChange> changes;
    int64_t seq = 0;
    for (const auto& [id, v] : rows) {
      stage::StagedChange c;
      c.change.op = op;
      c.change.commit_lsn = Lsn(lsn);
      c.change.seq = seq++;
      c.change.values = {Value(id), Value(v)};
      c.xid = Xid(700);
      changes.push_back(std::move(c));
    }
    PG2I_ASSERT_OK_AND_ASSIGN(std::string bytes, stage::EncodeStagedFile(rel, changes));
    const std::string uri = "file://" + dir_->str() + "/" + (chunk ? "snapshot-" : "staged-") +
                            std::to_string(staged_++) + ".parquet";
    PG2I_ASSERT_OK(io_->WriteAll(uri, bytes));
    coord::StagedFile f;
    f.table = "public.t";
    f.uri = uri;
    f.rows = static_cast<int64_t>(rows.size());
    f.bytes = static_cast<int64_t>(bytes.size());
    f.min_commit_lsn = f.max_commit_lsn = Lsn(lsn);
    if (chunk) {
      f.kind = io::StagedKind::kSnapshot;
      PG2I_ASSERT_OK(coord_.ClaimSnapshotChunk({f}, coord::SnapshotChunk{"public.t", 0, *chunk,
                                                                          *chunk + 1, f.rows})
                         .status());
    } else {
      PG2I_ASSERT_OK(coord_.ClaimOffsets({f}).status());
    }
  }

  std::vector<iceberg::Snapshot> Snapshots() {
    auto table = catalog_->LoadTable({{"default"}, "t"});
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    return table.ok() ? table->metadata.snapshots : std::vector<iceberg::Snapshot>{};
  }

  static inline std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<fixtures::TempDir> dir_;
  std::shared_ptr<io::FileIO> io_;
  std::unique_ptr<catalog::SqlCatalog> catalog_;
  std::unique_ptr<HookedCatalog> hooked_;
  coord::MemoryCoordinator coord_{Clock::Real()};
  int staged_ = 0;
};

TEST_F(MaterializerFenceTest, AStaleBatchIsNotCommittedOverANewerOne) {
  config::TableConfig t;
  t.name = config::TableName{"public", "t"};
  MaterializerOptions mo;
  mo.generation = "g1";
  Materializer current(&coord_, catalog_.get(), io_, {t}, mo);
  Materializer stale(&coord_, hooked_.get(), io_, {t}, mo);

  Stage({{1, "a"}, {2, "b"}, {3, "c"}}, fold::Op::kInsert, 0x100);
  // The stale materializer reads offsets [0, 3); before its commit lands, the current one
  // commits them and a later update.
  hooked_->before_commit = [&] {
    auto first = current.MaterializeTable("public.t");
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    Stage({{1, "newer"}}, fold::Op::kUpdate, 0x200);
    auto second = current.MaterializeTable("public.t");
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(second->cursor, 4);
  };
  auto late = stale.MaterializeTable("public.t");
  ASSERT_FALSE(late.ok()) << "the stale batch was committed";
  EXPECT_EQ(late.status().code(), StatusCode::kAborted) << late.status().ToString();
  EXPECT_NE(late.status().message().find("not committing a stale batch"), std::string::npos);

  // The table holds the current materializer's two commits, nothing of the stale one.
  PG2I_ASSERT_OK_AND_ASSIGN(auto table, catalog_->LoadTable({{"default"}, "t"}));
  EXPECT_EQ(table.metadata.snapshots.size(), 2u);
  // The stale one, run again, starts from the table and has nothing to do.
  auto again = stale.MaterializeTable("public.t");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->changes, 0);
  EXPECT_EQ(again->cursor, 4);
}

// A resync's copy larger than one batch replaces the table in ONE commit, once complete:
// readers never see a mix of old and new rows, nor an empty table.
TEST_F(MaterializerFenceTest, AResyncCopyReplacesTheTableInOneCommitOnceComplete) {
  config::TableConfig t;
  t.name = config::TableName{"public", "t"};
  MaterializerOptions mo;
  mo.generation = "g1";
  mo.max_changes = 4;  // so the copy below spans three batches
  Materializer m(&coord_, catalog_.get(), io_, {t}, mo);
  PG2I_ASSERT_OK(coord_.PutTable({"public.t", 1, true, Lsn(0x10)}));
  Stage({{1, "old"}, {2, "old"}, {3, "old"}, {4, "old"}, {5, "old"}, {6, "old"}},
        fold::Op::kInsert, 0x100);
  auto first = m.MaterializeTable("public.t");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(Snapshots().size(), 1u);

  PG2I_ASSERT_OK_AND_ASSIGN(int64_t marker, coord_.RequestResync("public.t"));
  EXPECT_EQ(marker, 6);
  Stage({{1, "copy"}, {2, "copy"}, {3, "copy"}}, fold::Op::kInsert, 0x200, 0);
  Stage({{10, "copy"}, {11, "copy"}, {12, "copy"}}, fold::Op::kInsert, 0x200, 1);
  Stage({{1, "after"}}, fold::Op::kUpdate, 0x300);  // during the copy: waits behind it
  // The copy is not complete: nothing is committed yet.
  auto waiting = m.MaterializeTable("public.t");
  ASSERT_TRUE(waiting.ok()) << waiting.status().ToString();
  EXPECT_EQ(Snapshots().size(), 1u);
  Stage({{20, "copy"}, {21, "copy"}, {22, "copy"}}, fold::Op::kInsert, 0x200, 2);
  PG2I_ASSERT_OK(coord_.CompleteSnapshot("public.t", Lsn(0x200)));

  auto replaced = m.MaterializeTable("public.t");
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ(replaced->rows_written, 9);
  EXPECT_EQ(replaced->cursor, 15);
  auto snaps = Snapshots();
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps.back().summary.at("total-records"), "9");  // 4, 5, 6 are gone
  EXPECT_EQ(snaps.back().summary.at("deleted-records"), "6");
  // Then the change that waited.
  auto after = m.MaterializeTable("public.t");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->cursor, 16);
  EXPECT_EQ(Snapshots().size(), 3u);
}

// A batch bounded by max_changes says that more is waiting, so that `run` starts the next one at
// once instead of after sink.materializer_interval; the last one says nothing is.
TEST_F(MaterializerFenceTest, ABoundedBatchSaysMoreIsWaiting) {
  config::TableConfig t;
  t.name = config::TableName{"public", "t"};
  MaterializerOptions mo;
  mo.generation = "g1";
  mo.max_changes = 2;
  Materializer m(&coord_, catalog_.get(), io_, {t}, mo);
  Stage({{1, "a"}, {2, "b"}}, fold::Op::kInsert, 0x100);
  Stage({{3, "c"}, {4, "d"}}, fold::Op::kInsert, 0x200);
  Stage({{5, "e"}}, fold::Op::kInsert, 0x300);
  std::vector<std::pair<int64_t, bool>> cycles;
  for (int i = 0; i < 3; ++i) {
    auto r = m.MaterializeTable("public.t");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    cycles.push_back({r->cursor, r->more});
  }
  EXPECT_EQ(cycles, (std::vector<std::pair<int64_t, bool>>{{2, true}, {4, true}, {5, false}}));
}

// memory_limit: a batch reads staged files until their changes take max_batch_bytes (at least
// one file), whatever max_changes allows, and says that more is waiting.
TEST_F(MaterializerFenceTest, ABatchStopsReadingFilesAtItsMemoryBudget) {
  config::TableConfig t;
  t.name = config::TableName{"public", "t"};
  MaterializerOptions mo;
  mo.generation = "g1";
  mo.max_batch_bytes = 1;  // less than any file: one file per batch
  Materializer m(&coord_, catalog_.get(), io_, {t}, mo);
  Stage({{1, "a"}, {2, "b"}}, fold::Op::kInsert, 0x100);
  Stage({{3, "c"}, {4, "d"}}, fold::Op::kInsert, 0x200);
  Stage({{5, "e"}}, fold::Op::kInsert, 0x300);
  std::vector<std::pair<int64_t, bool>> cycles;
  for (int i = 0; i < 3; ++i) {
    auto r = m.MaterializeTable("public.t");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    cycles.push_back({r->cursor, r->more});
  }
  EXPECT_EQ(cycles, (std::vector<std::pair<int64_t, bool>>{{2, true}, {4, true}, {5, false}}));
}

// Position deletes and deletion vectors are prepared on one state of the table. When another
// writer commits before the batch does (here: it deletes row 3), the batch is prepared again on
// the new state: the key index is rebuilt, and in dv mode the data file keeps one vector, which
// holds the other writer's position too.
class MaterializerReplanTest : public MaterializerFenceTest,
                               public ::testing::WithParamInterface<config::DeleteMode> {};

TEST_P(MaterializerReplanTest, ABatchIsPreparedAgainWhenAnotherWriterCommitsMeanwhile) {
  config::TableConfig t;
  t.name = config::TableName{"public", "t"};
  MaterializerOptions mo;
  mo.generation = "g1";
  mo.delete_mode = GetParam();
  mo.index_dir = dir_->str() + "/index";
  Materializer m(&coord_, hooked_.get(), io_, {t}, mo);
  Stage({{1, "a"}, {2, "b"}, {3, "c"}}, fold::Op::kInsert, 0x100);
  auto first = m.MaterializeTable("public.t");
  ASSERT_TRUE(first.ok()) << first.status().ToString();

  Stage({{2, "b2"}}, fold::Op::kUpdate, 0x200);
  const catalog::TableIdent ident{{"default"}, "t"};
  hooked_->before_commit = [&] {
    // Another engine deletes row 3 (position 2 of the one data file) the way it must in the
    // table's format: a position delete file in v2, a deletion vector in v3.
    auto table = catalog_->LoadTable(ident);
    ASSERT_TRUE(table.ok());
    auto live = iceberg::LiveEntries(io_.get(), table->metadata);
    ASSERT_TRUE(live.ok());
    ASSERT_EQ(live->size(), 1u);
    const std::string data = (*live)[0].file.file_path;
    iceberg::SnapshotChange other;
    if (table->metadata.format_version >= 3) {
      auto dv = iceberg::DeletionVectorWriter::Write(
          io_.get(), "file://" + dir_->str() + "/wh/other-dv.puffin", {{data, 0, {}, {2}}});
      ASSERT_TRUE(dv.ok()) << dv.status().ToString();
      other.added_deletes = *dv;
    } else {
      iceberg::ParquetWriteOptions o;
      o.new_file_uri = iceberg::UniqueFileUris("file://" + dir_->str() + "/wh", "other-pos-");
      auto w = iceberg::PositionDeleteWriter::Make(io_, o);
      ASSERT_TRUE(w.ok());
      (*w)->Add(data, 2);
      auto files = (*w)->Close();
      ASSERT_TRUE(files.ok());
      other.added_deletes = *files;
    }
    iceberg::SnapshotProducer p(io_.get(), Clock::Real(), other);
    auto pending = p.Produce(table->metadata);
    ASSERT_TRUE(pending.ok()) << pending.status().ToString();
    auto committed = catalog_->CommitTable({ident, pending->requirements, pending->updates});
    ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  };
  auto second = m.MaterializeTable("public.t");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->cursor, 4);
  EXPECT_EQ(hooked_->before_commit, nullptr) << "the other writer did not commit";

  PG2I_ASSERT_OK_AND_ASSIGN(auto table, catalog_->LoadTable(ident));
  ASSERT_EQ(table.metadata.snapshots.size(), 3u);
  PG2I_ASSERT_OK_AND_ASSIGN(auto scan, iceberg::TableScan::Plan(io_, table.metadata));
  PG2I_ASSERT_OK_AND_ASSIGN(auto rows, scan.ReadAll(table.metadata.CurrentSchema()->fields()));
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::vector<Value>>{{Value(int32_t{1}), Value(std::string("a"))},
                                                   {Value(int32_t{2}), Value(std::string("b2"))}}));
  if (GetParam() == config::DeleteMode::kDv) {
    // One vector for the data file: the other writer's position and the update's.
    PG2I_ASSERT_OK_AND_ASSIGN(auto deletes, iceberg::LiveDeleteEntries(io_.get(), table.metadata));
    ASSERT_EQ(deletes.size(), 1u);
    PG2I_ASSERT_OK_AND_ASSIGN(auto positions, iceberg::ReadDeletionVector(io_, deletes[0].file));
    EXPECT_EQ(positions, (std::vector<int64_t>{1, 2}));
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, MaterializerReplanTest,
                         ::testing::Values(config::DeleteMode::kPosition, config::DeleteMode::kDv),
                         [](const auto& info) {
                           return std::string(config::DeleteModeName(info.param));
                         });

}  // namespace
}  // namespace pg2iceberg::materialize

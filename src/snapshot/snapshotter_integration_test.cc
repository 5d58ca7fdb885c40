// The snapshotter against a real PostgreSQL 15: a copy reads the columns that were discovered
// before its snapshot was taken, so DDL committed in between is caught under the snapshot.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include "coord/pg_coordinator.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/temp_dir.h"
#include "io/arrow_file_io.h"
#include "pg/catalog.h"
#include "pg/values.h"
#include "stage/staged_file.h"
#include "snapshot/snapshotter.h"

namespace pg2iceberg::snapshot {
namespace {

using fixtures::PgCluster;

class SnapshotterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fixtures::StartForSuite(pg_, PgCluster::Start(), "PostgreSQL"); }
  static void TearDownTestSuite() { pg_.reset(); }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr) << "suite setup failed, see above";
    PG2I_ASSERT_OK_AND_ASSIGN(auto dir, fixtures::TempDir::Create("pg2i-snapshotter-"));
    dir_ = std::make_unique<fixtures::TempDir>(std::move(dir));
    PG2I_ASSERT_OK(pg_->Exec("SET client_min_messages = warning; DROP TABLE IF EXISTS t; DROP SCHEMA IF EXISTS coord CASCADE; "
                             "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT "
                             "g, 'v' || g FROM generate_series(1, 100) g"));
    PG2I_ASSERT_OK_AND_ASSIGN(auto c, Coordinator());
    PG2I_ASSERT_OK(c->Migrate());
    PG2I_ASSERT_OK(c->PutTable({"public.t", 0, false, Lsn()}));
  }

  Result<std::unique_ptr<coord::Coordinator>> Coordinator() {
    PG2I_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(pg_->ConnString(), "test"));
    return std::unique_ptr<coord::Coordinator>(
        std::make_unique<coord::PgCoordinator>(std::move(conn), "coord"));
  }

  // public.t as the pipeline discovers it before a copy.
  Result<SnapshotTable> Discovered() {
    PG2I_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(pg_->ConnString(), "test"));
    const config::TableName name{"public", "t"};
    PG2I_ASSIGN_OR_RETURN(pg::TableInfo info, pg::DiscoverTable(*conn, name));
    SnapshotTable t{name, {}};
    t.relation.table = name.ToString();
    t.relation.oid = info.oid;
    for (const auto& c : info.columns) {
      t.relation.columns.push_back(stage::StagedColumn{
          c.name, c.base_type_oid, c.typmod, pg::MapType(c.base_type_oid, c.typmod).type,
          c.nullable, c.attnum});
    }
    t.relation.key = {0};
    return t;
  }

  SnapshotOptions Options() {
    SnapshotOptions o;
    const std::string conninfo = pg_->ConnString();
    o.connect = [conninfo]() { return pg::Connection::Connect(conninfo, "test"); };
    o.coordinator = [this]() { return Coordinator(); };
    o.io = io::ArrowFileIO::MakeLocal();
    o.staging_uri = "file://" + dir_->str() + "/staging";
    o.concurrency = 2;
    o.replication = [conninfo]() { return pg::ReplicationConnection::Connect(conninfo, "test"); };
    return o;
  }

  static std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<fixtures::TempDir> dir_;
};

std::unique_ptr<PgCluster> SnapshotterTest::pg_;

TEST_F(SnapshotterTest, ACopyOfTheColumnsItWasGivenCompletes) {
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotTable t, Discovered());
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotResult r, RunSnapshot({t}, Options()));
  ASSERT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.tables[0].rows_done, 100);
  PG2I_ASSERT_OK_AND_ASSIGN(auto c, Coordinator());
  PG2I_ASSERT_OK_AND_ASSIGN(auto st, c->GetTable("public.t"));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->snapshot_complete);
}

// Rows are staged batch_rows at a time, or sooner once they take batch_bytes of memory (wide
// rows), and every row is copied either way.
TEST_F(SnapshotterTest, AWorkerStagesOnceItsRowsTakeBatchBytes) {
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotTable t, Discovered());
  auto staged_files = [this] {
    int n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_->str() + "/staging")) {
      n += e.is_regular_file() ? 1 : 0;
    }
    return n;
  };
  SnapshotOptions o = Options();
  o.concurrency = 1;
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotResult whole, RunSnapshot({t}, o));
  EXPECT_EQ(whole.tables[0].rows_done, 100);
  EXPECT_EQ(staged_files(), 1);

  PG2I_ASSERT_OK_AND_ASSIGN(auto c, Coordinator());
  PG2I_ASSERT_OK(c->RestartCopy("public.t").status());
  PG2I_ASSERT_OK(c->PutTable({"public.t", 0, false, Lsn()}));
  o.batch_bytes = 10 * stage::MemoryBytes(stage::StagedChange{});  // at most 10 rows' worth
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotResult bounded, RunSnapshot({t}, o));
  EXPECT_EQ(bounded.tables[0].rows_done, 100);
  EXPECT_GE(staged_files(), 1 + 10);
}

// DDL between discovering the columns and taking the snapshot: the copy would read the rows
// without the added column (NULL in Iceberg for a column PostgreSQL gives 7), or fail on a
// dropped one. It stops with a retryable error instead, and nothing is recorded as copied.
TEST_F(SnapshotterTest, ColumnsChangedBeforeTheSnapshotEndTheCopyToBeStartedAgain) {
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotTable t, Discovered());
  PG2I_ASSERT_OK(pg_->Exec("ALTER TABLE t ADD COLUMN flag int NOT NULL DEFAULT 7"));
  auto r = RunSnapshot({t}, Options());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAborted) << r.status().ToString();
  EXPECT_NE(r.status().message().find("the columns of public.t changed"), std::string::npos)
      << r.status().ToString();
  PG2I_ASSERT_OK_AND_ASSIGN(auto c, Coordinator());
  PG2I_ASSERT_OK_AND_ASSIGN(auto st, c->GetTable("public.t"));
  ASSERT_TRUE(st.has_value());
  EXPECT_FALSE(st->snapshot_complete);
  PG2I_ASSERT_OK_AND_ASSIGN(auto chunks, c->SnapshotChunks("public.t"));
  EXPECT_TRUE(chunks.empty());

  // Discovered again, it copies.
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotTable again, Discovered());
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotResult done, RunSnapshot({again}, Options()));
  EXPECT_EQ(done.tables[0].rows_done, 100);
  PG2I_ASSERT_OK(pg_->Exec("ALTER TABLE t DROP COLUMN v"));
  PG2I_ASSERT_OK(c->RestartCopy("public.t").status());
  PG2I_ASSERT_OK(c->PutTable({"public.t", 0, false, Lsn()}));
  auto dropped = RunSnapshot({again}, Options());
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.status().code(), StatusCode::kAborted) << dropped.status().ToString();
}

// The copy reads rows as binary COPY (simple types decoded from their binary form, the others
// through their output function): every value must be the one a text query and the text
// parsers give, edge values included (±infinity, the extremes, NaN, padding, NULL), and the
// types whose cast to text differs from their output (inet, "char", bool).
TEST_F(SnapshotterTest, ACopyReadsEveryValueAsATextQueryWould) {
  PG2I_ASSERT_OK(pg_->Exec(
      "SET client_min_messages = warning; DROP TABLE t; DROP TYPE IF EXISTS mood; "
      "DROP DOMAIN IF EXISTS posint; CREATE TYPE mood AS ENUM ('sad', 'ok'); "
      "CREATE DOMAIN posint AS int CHECK (VALUE > 0); "
      "CREATE TABLE t (id int PRIMARY KEY, b bool, s2 smallint, i4 int, i8 bigint, f4 real, "
      "f8 double precision, tx text, vc varchar(10), bp char(5), nm name, by bytea, u uuid, "
      "d date, ts timestamp, tz timestamptz, n numeric(12,2), ch \"char\", ip inet, "
      "arr int[], js jsonb, tm time, en mood, dm posint); "
      "INSERT INTO t VALUES "
      "(1, true, -32768, 2147483647, -9223372036854775808, 1.5, 0.1, 'héllo wörld ', 'abc', "
      " 'a', 'nm', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', "
      " '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.5+05:30', 1234.5, 'x', '10.0.0.1', "
      " '{1,NULL,3}', '{\"a\": [1, 2]}', '24:00:00', 'ok', 7), "
      "(2, false, 32767, -2147483648, 9223372036854775807, 'NaN', '-Infinity', '', '', '', "
      " '', '', '00000000-0000-0000-0000-000000000000', 'infinity', 'infinity', '-infinity', "
      " -0.01, 'é', '::1/128', '{}', 'null', '00:00', 'sad', 1), "
      "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '-infinity', "
      " '4714-11-24 00:00:00 BC', '294276-12-31 23:59:59.999999+00', NULL, NULL, NULL, NULL, "
      " NULL, NULL, NULL, NULL), "
      "(4, NULL, 0, 0, 0, '-0', 'Infinity', NULL, NULL, NULL, NULL, NULL, NULL, '5874897-12-31', "
      " '1999-12-31 23:59:59.999999', '1970-01-01 00:00:00+00', NULL, NULL, '192.168.0.0/16', "
      " NULL, NULL, NULL, NULL, NULL)"));
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotTable t, Discovered());
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotResult r, RunSnapshot({t}, Options()));
  ASSERT_EQ(r.tables[0].rows_done, 4);

  std::map<int32_t, std::vector<Value>> copied;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_->str() + "/staging")) {
    if (!e.is_regular_file()) continue;
    PG2I_ASSERT_OK_AND_ASSIGN(stage::DecodedStagedFile f,
                              stage::DecodeStagedFile(io::ArrowFileIO::MakeLocal(),
                                                      "file://" + e.path().string()));
    for (auto& c : f.changes) copied[std::get<int32_t>(c.change.values[0])] = c.change.values;
  }
  ASSERT_EQ(copied.size(), 4u);

  PG2I_ASSERT_OK_AND_ASSIGN(auto conn, pg::Connection::Connect(pg_->ConnString(), "test"));
  PG2I_ASSERT_OK_AND_ASSIGN(pg::QueryResult text, conn->Query("SELECT * FROM t ORDER BY id"));
  ASSERT_EQ(text.rows.size(), 4u);
  for (const auto& row : text.rows) {
    const int32_t id = std::stoi(*row[0]);
    const std::vector<Value>& got = copied[id];
    ASSERT_EQ(got.size(), t.relation.columns.size());
    for (size_t k = 0; k < row.size(); ++k) {
      const stage::StagedColumn& col = t.relation.columns[k];
      Value want;
      if (row[k]) {
        PG2I_ASSERT_OK_AND_ASSIGN(want, pg::ParseText(col.type, col.type_oid, *row[k]));
      }
      if (std::holds_alternative<float>(want) && std::isnan(std::get<float>(want))) {
        EXPECT_TRUE(std::holds_alternative<float>(got[k]) && std::isnan(std::get<float>(got[k])))
            << "row " << id << " column " << col.name;
        continue;
      }
      EXPECT_TRUE(want == got[k]) << "row " << id << " column " << col.name << ": text "
                                  << row[k].value_or("NULL");
      if (std::holds_alternative<double>(want) || std::holds_alternative<float>(want)) {
        // -0 and 0 compare equal; the sign must survive too.
        const bool want_neg = std::holds_alternative<double>(want)
                                  ? std::signbit(std::get<double>(want))
                                  : std::signbit(std::get<float>(want));
        const bool got_neg = std::holds_alternative<double>(got[k])
                                 ? std::signbit(std::get<double>(got[k]))
                                 : std::signbit(std::get<float>(got[k]));
        EXPECT_EQ(want_neg, got_neg) << "row " << id << " column " << col.name;
      }
    }
  }
}

// A copy whose reader fails (a value it cannot take) ends with the reader's error, the rest
// cancelled and drained, and the connection serves the next statement.
TEST_F(SnapshotterTest, ACopyOutWhoseReaderFailsIsCancelledAndTheConnectionStaysUsable) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto conn, pg::Connection::Connect(pg_->ConnString(), "test"));
  int64_t pieces = 0;
  Status s = conn->CopyOut(
      "COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 3000000) g) TO STDOUT "
      "(FORMAT binary)",
      [&](std::string_view) {
        return ++pieces == 10 ? InvalidArgument("a value the reader refuses") : Status::Ok();
      });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(pieces, 10);  // nothing handed to the reader after its error
  PG2I_ASSERT_OK_AND_ASSIGN(std::string one, conn->QueryScalar("SELECT 1"));
  EXPECT_EQ(one, "1");
}

}  // namespace
}  // namespace pg2iceberg::snapshot

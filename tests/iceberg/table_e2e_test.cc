// Iceberg core end to end: for each catalog and FileIO, pg2iceberg creates a table per
// partition transform, appends rows, commits a row delta that updates and deletes some of them,
// evolves the schema (add a column, widen int → long) and appends again; Iceberg Java reads
// exactly the expected rows after every commit, PyIceberg reads the append-only snapshot, and
// DuckDB reads the final table. Two writers committing concurrently: one conflicts, re-reads,
// retries, and no snapshot is lost.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "catalog/catalog.h"
#include "catalog/rest_catalog.h"
#include "catalog/sql_catalog.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/readers.h"
#include "fixtures/rest_catalog_server.h"
#include "fixtures/s3_server.h"
#include "iceberg/metadata_edit.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/snapshot_producer.h"
#include "io/arrow_file_io.h"
#include "pg/connection.h"
#include "pg/values.h"

namespace pg2iceberg {
namespace {

using catalog::TableIdent;
using iceberg::DataFile;
using iceberg::Field;
using iceberg::PartitionSpec;
using iceberg::Schema;

PG2I_REGISTER_ARROW_S3_ENVIRONMENT();

iceberg::DataType P(TypeId id) { return iceberg::DataType::Primitive(Type{id}); }

Schema BaseSchema() {
  return Schema(0,
                {Field{1, "id", true, P(TypeId::kLong), "", {}, {}},
                 Field{2, "name", false, P(TypeId::kString), "", {}, {}},
                 Field{3, "qty", false, P(TypeId::kInt), "", {}, {}},
                 Field{4, "amount", false, iceberg::DataType::Primitive(Type::Decimal(10, 2)), "", {}, {}},
                 Field{5, "ts", false, P(TypeId::kTimestampTz), "", {}, {}},
                 Field{6, "d", false, P(TypeId::kDate), "", {}, {}}},
                {1});
}

struct Row {
  int64_t id;
  std::string name;
  int64_t qty;
  int amount_cents;
  int day;   // of January 2025
  int hour;
  std::optional<std::string> note;
};

std::vector<Value> ToValues(const Row& r, bool evolved) {
  const int64_t day_micros = (pg::DaysFromCivil(2025, 1, static_cast<unsigned>(r.day))) * 86'400'000'000LL;
  std::vector<Value> v = {Value(r.id),
                          Value(r.name),
                          evolved ? Value(r.qty) : Value(static_cast<int32_t>(r.qty)),
                          Value(Decimal128{r.amount_cents, 2}),
                          Value(TimestampTz{day_micros + r.hour * 3'600'000'000LL}),
                          Value(Date{static_cast<int32_t>(pg::DaysFromCivil(2025, 1, static_cast<unsigned>(r.day)))})};
  if (evolved) v.push_back(r.note ? Value(*r.note) : Value());
  return v;
}

std::string ToTsv(const Row& r, bool evolved) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%lld\t%s\t%lld\t%d.%02d\t2025-01-%02d %02d:00:00+00\t2025-01-%02d",
                static_cast<long long>(r.id), r.name.c_str(), static_cast<long long>(r.qty),
                r.amount_cents / 100, r.amount_cents % 100, r.day, r.hour, r.day);
  std::string s = buf;
  if (evolved) s += "\t" + (r.note ? *r.note : std::string("\\N"));
  return s;
}

std::string ExpectedTsv(const std::vector<Row>& rows, bool evolved) {
  std::vector<std::string> lines;
  for (const Row& r : rows) lines.push_back(ToTsv(r, evolved));
  std::sort(lines.begin(), lines.end());
  std::string out = evolved ? "id\tname\tqty\tamount\tts\td\tnote\n" : "id\tname\tqty\tamount\tts\td\n";
  for (const auto& l : lines) out += l + "\n";
  return out;
}

struct TransformCase {
  std::string name;
  std::vector<iceberg::PartitionField> fields;
};

std::vector<TransformCase> Transforms() {
  return {
      {"unpartitioned", {}},
      {"identity", {{2, 1000, "name", "identity"}}},
      {"year", {{5, 1000, "ts_year", "year"}}},
      {"month", {{5, 1000, "ts_month", "month"}}},
      {"day", {{5, 1000, "ts_day", "day"}}},
      {"hour", {{5, 1000, "ts_hour", "hour"}}},
      {"bucket", {{1, 1000, "id_bucket", "bucket[4]"}}},
      {"truncate", {{2, 1000, "name_trunc", "truncate[3]"}}},
      {"date_day", {{6, 1000, "d_day", "day"}}},
  };
}

// One catalog + FileIO combination under test.
struct Target {
  std::string label;
  std::unique_ptr<catalog::Catalog> catalog;
  std::shared_ptr<io::FileIO> io;
  std::vector<std::string> reader_args;     // how the Java/PyIceberg readers find the table
  std::vector<std::string> duckdb_props;    // --prop … for DuckDB on S3
};

class TableE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixtures::StartForSuite(pg_, fixtures::PgCluster::Start(), "PostgreSQL");
    fixtures::StartForSuite(s3_, fixtures::S3Server::Start(), "versitygw");
    if (s3_) {
      Status b = s3_->CreateBucket("lake");
      ASSERT_TRUE(b.ok()) << b.ToString();
    }
    warehouse_dir_ = std::make_unique<fixtures::TempDir>(*fixtures::TempDir::Create("pg2i-wh-"));
  }
  static void TearDownTestSuite() {
    rest_servers_.clear();
    pg_.reset();
    s3_.reset();
    warehouse_dir_.reset();
  }
  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_NE(s3_, nullptr);
  }

  static std::vector<std::string> S3Props() {
    return {"--prop", "io-impl=org.apache.iceberg.aws.s3.S3FileIO",
            "--prop", "s3.endpoint=" + s3_->endpoint(),
            "--prop", "s3.path-style-access=true",
            "--prop", "s3.access-key-id=" + s3_->access_key(),
            "--prop", "s3.secret-access-key=" + s3_->secret_key(),
            "--prop", "client.region=us-east-1",
            "--prop", "s3.region=us-east-1"};
  }

  static Result<Target> RestTarget(bool s3) {
    Target t;
    t.label = s3 ? "rest+s3" : "rest+local";
    fixtures::RestCatalogServerOptions so;
    if (s3) so.s3 = fixtures::S3Warehouse::On(*s3_, "lake", "rest");
    PG2I_ASSIGN_OR_RETURN(auto server, fixtures::RestCatalogServer::Start(so));
    config::Config::Sink sink;
    sink.catalog_type = config::CatalogType::kRest;
    sink.catalog_uri = server->uri();
    io::S3Settings st;
    if (s3) {
      sink.s3_endpoint = st.endpoint = s3_->endpoint();
      sink.s3_access_key = st.access_key = s3_->access_key();
      sink.s3_secret_key = st.secret_key = s3_->secret_key();
      PG2I_ASSIGN_OR_RETURN(auto fio, io::ArrowFileIO::MakeS3(st));
      t.io = fio;
    } else {
      t.io = io::ArrowFileIO::MakeLocal();
    }
    PG2I_ASSIGN_OR_RETURN(auto cat, catalog::RestCatalog::Open(sink));
    t.catalog = std::move(cat);
    t.reader_args = {"--rest-uri", server->uri()};
    if (s3) {
      auto p = S3Props();
      t.reader_args.insert(t.reader_args.end(), p.begin(), p.end());
      t.duckdb_props = p;
    }
    rest_servers_.push_back(std::move(server));
    return t;
  }

  static Result<Target> SqlTarget(bool s3) {
    Target t;
    t.label = s3 ? "sql+s3" : "sql+local";
    std::string warehouse;
    if (s3) {
      io::S3Settings st;
      st.endpoint = s3_->endpoint();
      st.access_key = s3_->access_key();
      st.secret_key = s3_->secret_key();
      PG2I_ASSIGN_OR_RETURN(auto fio, io::ArrowFileIO::MakeS3(st));
      t.io = fio;
      warehouse = "s3://lake/sql";
    } else {
      t.io = io::ArrowFileIO::MakeLocal();
      warehouse = "file://" + warehouse_dir_->str() + "/sql";
    }
    PG2I_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(pg_->ConnString(), "catalog"));
    catalog::SqlCatalogOptions o;
    o.warehouse = warehouse;
    o.catalog_name = s3 ? "lake_s3" : "lake_local";
    PG2I_ASSIGN_OR_RETURN(auto cat, catalog::SqlCatalog::Open(std::move(conn), t.io, o));
    t.catalog = std::move(cat);
    t.reader_args = {"--jdbc-uri", "jdbc:postgresql://127.0.0.1:" + std::to_string(pg_->port()) + "/postgres",
                     "--jdbc-user", "postgres", "--jdbc-schema", "iceberg",
                     "--catalog-name", o.catalog_name, "--warehouse", warehouse};
    if (s3) {
      auto p = S3Props();
      t.reader_args.insert(t.reader_args.end(), p.begin(), p.end());
      t.duckdb_props = p;
    }
    return t;
  }

  // Writes `rows` as data files into `m`'s default spec.
  static Result<std::vector<DataFile>> WriteData(Target& t, const iceberg::TableMetadata& m,
                                                 const std::vector<Row>& rows, bool evolved) {
    PG2I_ASSIGN_OR_RETURN(auto w, iceberg::PartitionedWriter::MakeData(t.io, m));
    std::vector<std::vector<Value>> values;
    for (const Row& r : rows) values.push_back(ToValues(r, evolved));
    PG2I_RETURN_IF_ERROR(w->Write(values));
    return w->Close();
  }

  static Result<catalog::LoadedTable> Commit(Target& t, const TableIdent& ident,
                                             iceberg::SnapshotChange change) {
    iceberg::SnapshotProducer producer(t.io.get(), nullptr, std::move(change));
    for (int attempt = 0; attempt < 5; ++attempt) {
      PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable base, t.catalog->LoadTable(ident));
      PG2I_ASSIGN_OR_RETURN(iceberg::PendingSnapshot p, producer.Produce(base.metadata));
      auto done = t.catalog->CommitTable({ident, p.requirements, p.updates});
      if (done.ok() || done.status().code() != StatusCode::kAborted) return done;
    }
    return Aborted("gave up after 5 conflicts");
  }

  static std::vector<std::string> ReaderArgs(const Target& t, const TableIdent& ident,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> a = t.reader_args;
    a.push_back("--table");
    a.push_back(ident.ToString());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Every transform on the first target; a representative few on the others (each scenario
  // runs the independent readers many times, and JVM start-ups dominate the test's time).
  void RunScenario(Target& t, bool all_transforms = true);

  static inline std::unique_ptr<fixtures::PgCluster> pg_;
  static inline std::unique_ptr<fixtures::S3Server> s3_;
  static inline std::unique_ptr<fixtures::TempDir> warehouse_dir_;
  static inline std::vector<std::unique_ptr<fixtures::RestCatalogServer>> rest_servers_;
};

void TableE2eTest::RunScenario(Target& t, bool all_transforms) {
  PG2I_ASSERT_OK(t.catalog->CreateNamespace({"default"}, {}));
  EXPECT_TRUE(*t.catalog->NamespaceExists({"default"}));
  for (const TransformCase& tc : Transforms()) {
    if (!all_transforms && tc.name != "identity" && tc.name != "day" && tc.name != "bucket") {
      continue;
    }
    SCOPED_TRACE(t.label + " / " + tc.name);
    const TableIdent ident{{"default"}, "t_" + tc.name};
    catalog::CreateTableRequest req;
    req.schema = BaseSchema();
    req.spec = PartitionSpec{0, tc.fields};
    PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable created, t.catalog->CreateTable(ident, req));
    EXPECT_EQ(t.catalog->CreateTable(ident, req).status().code(), StatusCode::kAlreadyExists);

    // 1. Append ten rows.
    std::vector<Row> rows;
    for (int i = 1; i <= 10; ++i) {
      rows.push_back(Row{i, "name-" + std::to_string(i % 3), i * 10, i * 100 + 25, i, i, {}});
    }
    PG2I_ASSERT_OK_AND_ASSIGN(auto files, WriteData(t, created.metadata, rows, false));
    iceberg::SnapshotChange append;
    append.added_data = files;
    PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable s1, Commit(t, ident, append));
    const int64_t snap1 = *s1.metadata.current_snapshot_id;
    PG2I_ASSERT_OK_AND_ASSIGN(std::string java1,
                              fixtures::RunJavaReader(ReaderArgs(t, ident, {"--no-file-column"})));
    EXPECT_EQ(java1, ExpectedTsv(rows, false));
    // PyIceberg reads the append-only table, _file included, exactly as Java does.
    PG2I_ASSERT_OK_AND_ASSIGN(std::string java1f, fixtures::RunJavaReader(ReaderArgs(t, ident)));
    PG2I_ASSERT_OK_AND_ASSIGN(std::string py1, fixtures::RunPyIcebergReader(ReaderArgs(t, ident)));
    EXPECT_EQ(py1, java1f);
    if (!tc.fields.empty()) {
      EXPECT_NE(java1f.find("/data/" + tc.fields[0].name + "="), std::string::npos) << java1f;
    }

    // 2. Row delta: update 1-3 (the name, so identity/truncate partitions move), delete 4-5.
    const iceberg::TableMetadata& m1 = s1.metadata;
    PG2I_ASSERT_OK_AND_ASSIGN(auto dw, iceberg::PartitionedWriter::MakeData(t.io, m1));
    PG2I_ASSERT_OK_AND_ASSIGN(auto ew, iceberg::PartitionedWriter::MakeEqualityDeletes(t.io, m1));
    std::vector<Row> after;
    for (const Row& r : rows) {
      PG2I_ASSERT_OK_AND_ASSIGN(std::vector<Value> old_part, dw->PartitionOf(ToValues(r, false)));
      if (r.id <= 5) {
        std::vector<std::vector<Value>> key = {{Value(r.id)}};
        PG2I_ASSERT_OK(ew->WriteTo(old_part, key));
      }
      if (r.id <= 3) {
        Row u = r;
        u.name = "upd-" + std::to_string(r.id);
        u.qty += 1;
        std::vector<std::vector<Value>> nv = {ToValues(u, false)};
        PG2I_ASSERT_OK(dw->Write(nv));
        after.push_back(u);
      } else if (r.id > 5) {
        after.push_back(r);
      }
    }
    iceberg::SnapshotChange delta;
    PG2I_ASSERT_OK_AND_ASSIGN(delta.added_data, dw->Close());
    PG2I_ASSERT_OK_AND_ASSIGN(delta.added_deletes, ew->Close());
    PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable s2, Commit(t, ident, delta));
    EXPECT_EQ(s2.metadata.CurrentSnapshot()->summary.at("operation"), "overwrite");
    EXPECT_EQ(s2.metadata.CurrentSnapshot()->summary.at("total-records"), "13");
    PG2I_ASSERT_OK_AND_ASSIGN(std::string java2,
                              fixtures::RunJavaReader(ReaderArgs(t, ident, {"--no-file-column"})));
    EXPECT_EQ(java2, ExpectedTsv(after, false));

    // 3. Schema evolution: widen qty int → long, add a column; then append with it.
    PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable cur, t.catalog->LoadTable(ident));
    std::vector<Field> evolved = cur.metadata.CurrentSchema()->fields();
    evolved[2].type = P(TypeId::kLong);
    evolved.push_back(Field{7, "note", false, P(TypeId::kString), "", {}, {}});
    Schema next(1, evolved, {1});
    PG2I_ASSERT_OK(t.catalog
                       ->CommitTable({ident,
                                      {iceberg::TableRequirement::AssertCurrentSchemaId(
                                          cur.metadata.current_schema_id)},
                                      {iceberg::TableUpdate::AddSchema(next, 7),
                                       iceberg::TableUpdate::SetCurrentSchema(-1)}})
                       .status());
    PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable s3m, t.catalog->LoadTable(ident));
    EXPECT_EQ(s3m.metadata.CurrentSchema()->FindById(3)->type.primitive.id, TypeId::kLong);
    std::vector<Row> more = {{11, "name-11", 5'000'000'000LL, 1199, 11, 11, "hello"},
                             {12, "name-12", 12, 1250, 12, 12, std::nullopt}};
    PG2I_ASSERT_OK_AND_ASSIGN(auto files3, WriteData(t, s3m.metadata, more, true));
    iceberg::SnapshotChange append2;
    append2.added_data = files3;
    PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable s4, Commit(t, ident, append2));
    after.insert(after.end(), more.begin(), more.end());
    PG2I_ASSERT_OK_AND_ASSIGN(std::string java3,
                              fixtures::RunJavaReader(ReaderArgs(t, ident, {"--no-file-column"})));
    EXPECT_EQ(java3, ExpectedTsv(after, true));

    // Every snapshot stays readable: the first one still has the ten original rows.
    PG2I_ASSERT_OK_AND_ASSIGN(
        std::string java_s1,
        fixtures::RunJavaReader(ReaderArgs(
            t, ident, {"--no-file-column", "--snapshot-id", std::to_string(snap1)})));
    EXPECT_EQ(std::count(java_s1.begin(), java_s1.end(), '\n'), 11) << java_s1;
    // PyIceberg refuses the table now that it has equality deletes, rather than misread it.
    auto py = fixtures::RunPyIcebergReader(ReaderArgs(t, ident));
    EXPECT_FALSE(py.ok());
    // Compaction: replace every live file by one rewritten data file; same rows.
    {
      PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable before, t.catalog->LoadTable(ident));
      PG2I_ASSERT_OK_AND_ASSIGN(auto live, iceberg::LiveEntries(t.io.get(), before.metadata));
      iceberg::SnapshotChange replace;
      replace.operation = "replace";
      for (const auto& e : live) replace.removed_paths.insert(e.file.file_path);
      std::vector<std::vector<Value>> rewritten;
      for (const Row& r : after) rewritten.push_back(ToValues(r, true));
      PG2I_ASSERT_OK_AND_ASSIGN(auto w, iceberg::PartitionedWriter::MakeData(t.io, before.metadata));
      PG2I_ASSERT_OK(w->Write(rewritten));
      PG2I_ASSERT_OK_AND_ASSIGN(replace.added_data, w->Close());
      PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable compacted, Commit(t, ident, replace));
      EXPECT_EQ(compacted.metadata.CurrentSnapshot()->summary.at("operation"), "replace");
      EXPECT_EQ(compacted.metadata.CurrentSnapshot()->summary.at("total-delete-files"), "0");
      PG2I_ASSERT_OK_AND_ASSIGN(std::string java4,
                                fixtures::RunJavaReader(ReaderArgs(t, ident, {"--no-file-column"})));
      EXPECT_EQ(java4, java3);
      // Expire everything but the current snapshot; its rows stay, unreferenced files go.
      PG2I_ASSERT_OK_AND_ASSIGN(
          iceberg::ExpiryPlan plan,
          iceberg::PlanExpiry(t.io.get(), compacted.metadata, INT64_MAX, 1));
      EXPECT_EQ(plan.snapshot_ids.size(), compacted.metadata.snapshots.size() - 1);
      ASSERT_FALSE(plan.files_to_delete.empty());
      PG2I_ASSERT_OK_AND_ASSIGN(
          catalog::LoadedTable expired,
          t.catalog->CommitTable({ident,
                                  {iceberg::TableRequirement::AssertRefSnapshotId(
                                      "main", compacted.metadata.current_snapshot_id)},
                                  plan.updates}));
      EXPECT_EQ(expired.metadata.snapshots.size(), 1u);
      PG2I_ASSERT_OK(t.io->DeleteMany(plan.files_to_delete));
      PG2I_ASSERT_OK_AND_ASSIGN(std::string java5,
                                fixtures::RunJavaReader(ReaderArgs(t, ident, {"--no-file-column"})));
      EXPECT_EQ(java5, java3);
      s4 = expired;
    }
    // DuckDB reads the final table from its metadata file.
    std::string meta = s4.metadata_location;
    if (meta.rfind("file:", 0) == 0) meta = *io::LocalPathFromUri(meta);  // DuckDB wants a path
    std::vector<std::string> dargs = {"--metadata-file", meta, "--no-file-column"};
    dargs.insert(dargs.end(), t.duckdb_props.begin(), t.duckdb_props.end());
    auto duck = fixtures::RunDuckDbReader(dargs);
    if (duck.status().code() == StatusCode::kUnimplemented) {
      GTEST_LOG_(WARNING) << "DuckDB reader unavailable: " << duck.status().message();
    } else {
      ASSERT_TRUE(duck.ok()) << duck.status().ToString();
      EXPECT_EQ(*duck, java3);
    }
  }
}

TEST_F(TableE2eTest, SqlCatalogLocalWarehouse) {
  PG2I_ASSERT_OK_AND_ASSIGN(Target t, SqlTarget(false));
  RunScenario(t);
}

TEST_F(TableE2eTest, SqlCatalogS3Warehouse) {
  PG2I_ASSERT_OK_AND_ASSIGN(Target t, SqlTarget(true));
  RunScenario(t, false);
}

TEST_F(TableE2eTest, RestCatalogLocalWarehouse) {
  PG2I_ASSERT_OK_AND_ASSIGN(Target t, RestTarget(false));
  RunScenario(t, false);
}

TEST_F(TableE2eTest, RestCatalogS3Warehouse) {
  PG2I_ASSERT_OK_AND_ASSIGN(Target t, RestTarget(true));
  RunScenario(t, false);
}

TEST_F(TableE2eTest, ConcurrentWritersConflictRetryAndLoseNothing) {
  PG2I_ASSERT_OK_AND_ASSIGN(Target a, SqlTarget(false));
  PG2I_ASSERT_OK_AND_ASSIGN(Target b, SqlTarget(false));
  const TableIdent ident{{"default"}, "concurrent"};
  PG2I_ASSERT_OK(a.catalog->CreateNamespace({"default"}, {}));
  catalog::CreateTableRequest req;
  req.schema = BaseSchema();
  req.spec = PartitionSpec{0, {{5, 1000, "ts_day", "day"}}};
  PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable base, a.catalog->CreateTable(ident, req));
  std::vector<Row> ra = {{1, "a", 1, 100, 1, 1, {}}}, rb = {{2, "b", 2, 200, 2, 2, {}}};
  PG2I_ASSERT_OK_AND_ASSIGN(auto fa, WriteData(a, base.metadata, ra, false));
  PG2I_ASSERT_OK_AND_ASSIGN(auto fb, WriteData(b, base.metadata, rb, false));
  iceberg::SnapshotChange ca, cb;
  ca.added_data = fa;
  cb.added_data = fb;
  iceberg::SnapshotProducer pa(a.io.get(), nullptr, ca), pb(b.io.get(), nullptr, cb);
  // Both build on the same (empty) base.
  PG2I_ASSERT_OK_AND_ASSIGN(auto pend_a, pa.Produce(base.metadata));
  PG2I_ASSERT_OK_AND_ASSIGN(auto pend_b, pb.Produce(base.metadata));
  PG2I_ASSERT_OK(a.catalog->CommitTable({ident, pend_a.requirements, pend_a.updates}).status());
  auto lost = b.catalog->CommitTable({ident, pend_b.requirements, pend_b.updates});
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), StatusCode::kAborted) << lost.status().ToString();
  // The loser re-reads and retries on top of the winner.
  PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable fresh, b.catalog->LoadTable(ident));
  PG2I_ASSERT_OK_AND_ASSIGN(auto retry, pb.Produce(fresh.metadata));
  PG2I_ASSERT_OK_AND_ASSIGN(catalog::LoadedTable final_table,
                            b.catalog->CommitTable({ident, retry.requirements, retry.updates}));
  const auto& m = final_table.metadata;
  ASSERT_EQ(m.snapshots.size(), 2u);
  EXPECT_EQ(m.CurrentSnapshot()->parent_snapshot_id, pend_a.snapshot.snapshot_id);
  EXPECT_EQ(m.CurrentSnapshot()->sequence_number, 2);
  std::vector<Row> both = {ra[0], rb[0]};
  PG2I_ASSERT_OK_AND_ASSIGN(std::string java,
                            fixtures::RunJavaReader(ReaderArgs(a, ident, {"--no-file-column"})));
  EXPECT_EQ(java, ExpectedTsv(both, false));
}

}  // namespace
}  // namespace pg2iceberg

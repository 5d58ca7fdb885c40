// The Catalog contract (catalog.h) as one suite that every catalog runs: the in-memory one the
// unit tests and the simulation use, the SQL catalog on PostgreSQL, and the REST client
// against Apache Iceberg's RESTCatalogServer. What the product relies on: namespaces,
// create/load/drop with their NotFound and AlreadyExists, commits whose requirements are
// checked atomically with the swap (Aborted changes nothing), snapshots moved onto main under
// assert-ref-snapshot-id, schema evolution, expiry, and multi-table transactions (all or
// none, or Unimplemented). A fake that passes this suite behaves like the real catalogs where
// the simulation leans on it.
#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <memory>
#include <string>
#include <vector>

#include "catalog/memory_catalog.h"
#include "catalog/rest_catalog.h"
#include "catalog/sql_catalog.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/rest_catalog_server.h"
#include "fixtures/temp_dir.h"
#include "io/arrow_file_io.h"
#include "io/file_io.h"

namespace pg2iceberg::catalog {
namespace {

using iceberg::TableRequirement;
using iceberg::TableUpdate;

struct CatalogBackend {
  std::string name;
  std::function<Result<std::unique_ptr<Catalog>>()> open;
};

void PrintTo(const CatalogBackend& b, std::ostream* os) { *os << b.name; }

// Servers shared by every test of the run (started on first use).
struct Servers {
  static fixtures::PgCluster* Pg() {
    static std::unique_ptr<fixtures::PgCluster> pg;
    if (pg == nullptr) fixtures::StartForSuite(pg, fixtures::PgCluster::Start(), "PostgreSQL");
    return pg.get();
  }
  static fixtures::RestCatalogServer* Rest() {
    static std::unique_ptr<fixtures::RestCatalogServer> rest;
    if (rest == nullptr) {
      fixtures::StartForSuite(rest, fixtures::RestCatalogServer::Start(), "REST catalog server");
    }
    return rest.get();
  }
  static std::string Warehouse() {
    static std::unique_ptr<fixtures::TempDir> dir;
    if (dir == nullptr) {
      auto made = fixtures::TempDir::Create("pg2i-catconf-");
      if (!made.ok()) return "/nonexistent";
      dir = std::make_unique<fixtures::TempDir>(std::move(made).value());
    }
    return dir->str();
  }
};

Result<std::unique_ptr<Catalog>> OpenMemory() {
  return std::unique_ptr<Catalog>(std::make_unique<MemoryCatalog>("mem://warehouse"));
}

Result<std::unique_ptr<Catalog>> OpenSql() {
  fixtures::PgCluster* pg = Servers::Pg();
  if (pg == nullptr) return Unavailable("PostgreSQL did not start");
  PG2I_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(pg->ConnString(), "catalog test"));
  SqlCatalogOptions o;
  o.warehouse = "file://" + Servers::Warehouse() + "/sql";
  PG2I_ASSIGN_OR_RETURN(auto c, SqlCatalog::Open(std::move(conn), io::ArrowFileIO::MakeLocal(), o));
  return std::unique_ptr<Catalog>(std::move(c));
}

Result<std::unique_ptr<Catalog>> OpenRest() {
  fixtures::RestCatalogServer* rest = Servers::Rest();
  if (rest == nullptr) return Unavailable("the REST catalog server did not start");
  config::Config::Sink sink;
  sink.catalog_type = config::CatalogType::kRest;
  sink.catalog_uri = rest->uri();
  PG2I_ASSIGN_OR_RETURN(auto c, RestCatalog::Open(sink, RestCatalogOptions{}));
  return std::unique_ptr<Catalog>(std::move(c));
}

iceberg::Field Col(int32_t id, std::string name, bool required, Type type) {
  iceberg::Field f;
  f.id = id;
  f.name = std::move(name);
  f.required = required;
  f.type = iceberg::DataType::Primitive(type);
  return f;
}

CreateTableRequest Request() {
  CreateTableRequest r;
  r.schema = iceberg::Schema(0,
                             {Col(1, "id", true, Type{TypeId::kLong}),
                              Col(2, "v", false, Type{TypeId::kString}),
                              Col(3, "d", false, Type{TypeId::kDate})},
                             {1});
  r.spec.fields.push_back(iceberg::PartitionField{3, 1000, "d", "identity"});
  r.properties = {{"format-version", "2"}, {"pg2iceberg.test", "yes"}};
  return r;
}

iceberg::Snapshot SnapshotOn(const iceberg::TableMetadata& m, int64_t id) {
  iceberg::Snapshot s;
  s.snapshot_id = id;
  s.parent_snapshot_id = m.current_snapshot_id;
  s.sequence_number = iceberg::NextSequenceNumber(m);
  s.timestamp_ms = m.last_updated_ms + 1;
  s.manifest_list = m.location + "/metadata/snap-" + std::to_string(id) + ".avro";  // never read
  s.summary = {{"operation", "append"}};
  s.schema_id = m.current_schema_id;
  return s;
}

// Adds snapshot `id` and moves main onto it, asserting main is still where `base` had it.
TableCommit Append(const TableIdent& ident, const iceberg::TableMetadata& base, int64_t id) {
  TableCommit c;
  c.ident = ident;
  c.requirements = {TableRequirement::AssertRefSnapshotId("main", base.current_snapshot_id)};
  iceberg::SnapshotRef ref;
  ref.snapshot_id = id;
  c.updates = {TableUpdate::AddSnapshot(SnapshotOn(base, id)), TableUpdate::SetSnapshotRef("main", ref)};
  return c;
}

class CatalogConformanceTest : public ::testing::TestWithParam<CatalogBackend> {
 protected:
  void SetUp() override {
    auto opened = GetParam().open();
    ASSERT_TRUE(opened.ok()) << GetParam().name << ": " << opened.status().ToString();
    catalog_ = std::move(opened).value();
    // A namespace of its own per test: the SQL and REST catalogs outlive a test.
    static int n = 0;
    ns_ = {"conf", GetParam().name + "_" + std::to_string(++n)};
    PG2I_ASSERT_OK(catalog_->CreateNamespace({"conf"}, {}));
    PG2I_ASSERT_OK(catalog_->CreateNamespace(ns_, {}));
  }

  TableIdent Ident(const std::string& name) const { return TableIdent{ns_, name}; }

  std::unique_ptr<Catalog> catalog_;
  std::vector<std::string> ns_;
};

TEST_P(CatalogConformanceTest, NamespacesAreCreatedOnceAndFound) {
  PG2I_ASSERT_OK(catalog_->CreateNamespace(ns_, {}));  // again: fine
  PG2I_ASSERT_OK_AND_ASSIGN(bool exists, catalog_->NamespaceExists(ns_));
  EXPECT_TRUE(exists);
  PG2I_ASSERT_OK_AND_ASSIGN(exists, catalog_->NamespaceExists({"conf", "never_created"}));
  EXPECT_FALSE(exists);
}

TEST_P(CatalogConformanceTest, CreateLoadAndAlreadyExists) {
  const TableIdent ident = Ident("t");
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable created, catalog_->CreateTable(ident, Request()));
  EXPECT_FALSE(created.metadata_location.empty());
  EXPECT_FALSE(created.metadata.table_uuid.empty());
  EXPECT_EQ(created.metadata.format_version, 2);
  EXPECT_FALSE(created.metadata.current_snapshot_id.has_value());
  ASSERT_NE(created.metadata.CurrentSchema(), nullptr);
  const auto& fields = created.metadata.CurrentSchema()->fields();
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[0].name, "id");
  EXPECT_TRUE(fields[0].required);
  EXPECT_EQ(fields[2].type, iceberg::DataType::Primitive(Type{TypeId::kDate}));
  EXPECT_EQ(created.metadata.CurrentSchema()->identifier_field_ids(),
            std::vector<int32_t>{fields[0].id});
  ASSERT_NE(created.metadata.DefaultSpec(), nullptr);
  ASSERT_EQ(created.metadata.DefaultSpec()->fields.size(), 1u);
  EXPECT_EQ(created.metadata.DefaultSpec()->fields[0].transform, "identity");
  EXPECT_EQ(created.metadata.DefaultSpec()->fields[0].source_id, fields[2].id);
  EXPECT_EQ(created.metadata.properties.at("pg2iceberg.test"), "yes");

  auto again = catalog_->CreateTable(ident, Request());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();

  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable loaded, catalog_->LoadTable(ident));
  EXPECT_EQ(loaded.metadata_location, created.metadata_location);
  EXPECT_EQ(loaded.metadata.table_uuid, created.metadata.table_uuid);
  EXPECT_EQ(loaded.metadata.schemas, created.metadata.schemas);
}

TEST_P(CatalogConformanceTest, AMissingTableIsNotFound) {
  EXPECT_EQ(catalog_->LoadTable(Ident("nope")).status().code(), StatusCode::kNotFound);
  TableCommit c;
  c.ident = Ident("nope");
  c.updates = {TableUpdate::SetProperties({{"a", "b"}})};
  EXPECT_EQ(catalog_->CommitTable(c).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->DropTable(Ident("nope"), false).code(), StatusCode::kNotFound);
}

TEST_P(CatalogConformanceTest, RequirementsAreCheckedWithTheSwapAndAFailedOneChangesNothing) {
  const TableIdent ident = Ident("t");
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable base, catalog_->CreateTable(ident, Request()));
  TableCommit props;
  props.ident = ident;
  props.requirements = {TableRequirement::AssertTableUuid(base.metadata.table_uuid),
                        TableRequirement::AssertCurrentSchemaId(base.metadata.current_schema_id),
                        TableRequirement::AssertRefSnapshotId("main", std::nullopt)};
  props.updates = {TableUpdate::SetProperties({{"owner", "pg2iceberg"}})};
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable committed, catalog_->CommitTable(props));
  EXPECT_NE(committed.metadata_location, base.metadata_location);
  EXPECT_EQ(committed.metadata.properties.at("owner"), "pg2iceberg");

  for (const TableRequirement& stale :
       {TableRequirement::AssertRefSnapshotId("main", 12345),
        TableRequirement::AssertCurrentSchemaId(base.metadata.current_schema_id + 7),
        TableRequirement::AssertTableUuid("00000000-0000-4000-8000-000000000000"),
        TableRequirement::AssertLastAssignedFieldId(base.metadata.last_column_id + 5)}) {
    TableCommit c = props;
    c.requirements = {stale};
    c.updates = {TableUpdate::SetProperties({{"owner", "someone else"}})};
    auto refused = catalog_->CommitTable(c);
    EXPECT_EQ(refused.status().code(), StatusCode::kAborted)
        << stale.ToJson() << ": " << refused.status().ToString();
  }
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable after, catalog_->LoadTable(ident));
  EXPECT_EQ(after.metadata_location, committed.metadata_location);
  EXPECT_EQ(after.metadata.properties.at("owner"), "pg2iceberg");

  TableCommit removal;
  removal.ident = ident;
  removal.updates = {TableUpdate::RemoveProperties({"owner"})};
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable removed, catalog_->CommitTable(removal));
  EXPECT_EQ(removed.metadata.properties.count("owner"), 0u);
}

// The materializer's commit: a snapshot moved onto main while main is where it read it. Of
// two writers that read the same base, the second is refused and retries on the new base.
TEST_P(CatalogConformanceTest, OfTwoWritersOnOneBaseTheSecondIsRefused) {
  const TableIdent ident = Ident("t");
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable base, catalog_->CreateTable(ident, Request()));
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable first, catalog_->CommitTable(Append(ident, base.metadata, 1001)));
  EXPECT_EQ(first.metadata.current_snapshot_id, 1001);
  EXPECT_EQ(first.metadata.last_sequence_number, 1);
  auto second = catalog_->CommitTable(Append(ident, base.metadata, 1002));
  EXPECT_EQ(second.status().code(), StatusCode::kAborted) << second.status().ToString();
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable reloaded, catalog_->LoadTable(ident));
  EXPECT_EQ(reloaded.metadata.current_snapshot_id, 1001);
  EXPECT_EQ(reloaded.metadata.snapshots.size(), 1u);
  // The retry on the table as it is now lands, as a child of the first.
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable retried,
                            catalog_->CommitTable(Append(ident, reloaded.metadata, 1002)));
  EXPECT_EQ(retried.metadata.current_snapshot_id, 1002);
  ASSERT_NE(retried.metadata.SnapshotById(1002), nullptr);
  EXPECT_EQ(retried.metadata.SnapshotById(1002)->parent_snapshot_id, 1001);
  EXPECT_EQ(retried.metadata.SnapshotById(1002)->sequence_number, 2);
  EXPECT_EQ(retried.metadata.snapshot_log.size(), 2u);
}

TEST_P(CatalogConformanceTest, SchemaEvolutionAddsAColumnAndMakesItCurrent) {
  const TableIdent ident = Ident("t");
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable base, catalog_->CreateTable(ident, Request()));
  std::vector<iceberg::Field> fields = base.metadata.CurrentSchema()->fields();
  const int32_t next = base.metadata.last_column_id + 1;
  fields.push_back(Col(next, "note", false, Type{TypeId::kString}));
  TableCommit evolve;
  evolve.ident = ident;
  evolve.requirements = {TableRequirement::AssertCurrentSchemaId(base.metadata.current_schema_id),
                         TableRequirement::AssertLastAssignedFieldId(base.metadata.last_column_id)};
  evolve.updates = {
      TableUpdate::AddSchema(iceberg::Schema(1, fields, base.metadata.CurrentSchema()->identifier_field_ids()),
                             next),
      TableUpdate::SetCurrentSchema(-1)};
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable evolved, catalog_->CommitTable(evolve));
  EXPECT_NE(evolved.metadata.current_schema_id, base.metadata.current_schema_id);
  EXPECT_EQ(evolved.metadata.last_column_id, next);
  ASSERT_EQ(evolved.metadata.CurrentSchema()->fields().size(), 4u);
  EXPECT_EQ(evolved.metadata.CurrentSchema()->fields()[3].name, "note");
  // The same evolution again, on the old base: refused.
  auto again = catalog_->CommitTable(evolve);
  EXPECT_EQ(again.status().code(), StatusCode::kAborted) << again.status().ToString();
}

TEST_P(CatalogConformanceTest, ExpiryRemovesOldSnapshotsAndKeepsTheCurrentOne) {
  const TableIdent ident = Ident("t");
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable t, catalog_->CreateTable(ident, Request()));
  for (int64_t id : {2001, 2002, 2003}) {
    PG2I_ASSERT_OK_AND_ASSIGN(t, catalog_->CommitTable(Append(ident, t.metadata, id)));
  }
  TableCommit expire;
  expire.ident = ident;
  expire.requirements = {TableRequirement::AssertRefSnapshotId("main", 2003)};
  expire.updates = {TableUpdate::RemoveSnapshots({2001, 2002})};
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable expired, catalog_->CommitTable(expire));
  ASSERT_EQ(expired.metadata.snapshots.size(), 1u);
  EXPECT_EQ(expired.metadata.snapshots[0].snapshot_id, 2003);
  EXPECT_EQ(expired.metadata.current_snapshot_id, 2003);
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable reloaded, catalog_->LoadTable(ident));
  EXPECT_EQ(reloaded.metadata.snapshots.size(), 1u);
}

TEST_P(CatalogConformanceTest, ADroppedTableIsGoneAndCanBeCreatedAgain) {
  const TableIdent ident = Ident("t");
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable first, catalog_->CreateTable(ident, Request()));
  PG2I_ASSERT_OK(catalog_->DropTable(ident, /*purge=*/false));
  EXPECT_EQ(catalog_->LoadTable(ident).status().code(), StatusCode::kNotFound);
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable second, catalog_->CreateTable(ident, Request()));
  EXPECT_NE(second.metadata.table_uuid, first.metadata.table_uuid);
  EXPECT_FALSE(second.metadata.current_snapshot_id.has_value());
}

// All commits or none; a catalog without multi-table transactions says so.
TEST_P(CatalogConformanceTest, ATransactionCommitsEveryTableOrNone) {
  const TableIdent a = Ident("a"), b = Ident("b");
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable ta, catalog_->CreateTable(a, Request()));
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable tb, catalog_->CreateTable(b, Request()));
  TableCommit stale = Append(b, tb.metadata, 3002);
  stale.requirements = {TableRequirement::AssertRefSnapshotId("main", 99)};
  Status s = catalog_->CommitTransaction({Append(a, ta.metadata, 3001), stale});
  if (s.code() == StatusCode::kUnimplemented) GTEST_SKIP() << catalog_->kind() << ": " << s.ToString();
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable after_a, catalog_->LoadTable(a));
  EXPECT_FALSE(after_a.metadata.current_snapshot_id.has_value()) << "half a transaction landed";
  PG2I_ASSERT_OK(catalog_->CommitTransaction({Append(a, ta.metadata, 3001), Append(b, tb.metadata, 3002)}));
  PG2I_ASSERT_OK_AND_ASSIGN(after_a, catalog_->LoadTable(a));
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable after_b, catalog_->LoadTable(b));
  EXPECT_EQ(after_a.metadata.current_snapshot_id, 3001);
  EXPECT_EQ(after_b.metadata.current_snapshot_id, 3002);
}

INSTANTIATE_TEST_SUITE_P(Catalogs, CatalogConformanceTest,
                         ::testing::Values(CatalogBackend{"memory", OpenMemory},
                                           CatalogBackend{"sql", OpenSql},
                                           CatalogBackend{"rest", OpenRest}),
                         [](const ::testing::TestParamInfo<CatalogBackend>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace pg2iceberg::catalog

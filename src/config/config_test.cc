#include "config/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "config/options.h"

namespace pg2iceberg::config {
namespace {

using namespace std::chrono_literals;

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Result<Config> LoadYaml(const std::string& yaml, std::map<std::string, std::string> env = {},
                        std::map<std::string, std::string> overrides = {}) {
  LoadOptions o;
  o.yaml = yaml;
  o.source_name = "test.yaml";
  o.env = MapEnv(std::move(env));
  o.overrides = std::move(overrides);
  o.working_directory = "/srv/app";
  return Load(o);
}

const char* kMinimal = R"y(
source:
  postgres:
    host: db.internal
    database: shop
    user: replicator
tables:
  - name: public.orders
)y";

TEST(ConfigDefaultsTest, EveryKeyHasItsDocumentedDefault) {
  auto r = LoadYaml(kMinimal);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Config& c = *r;
  EXPECT_TRUE(c.warnings.empty());
  ASSERT_EQ(c.tables.size(), 1u);
  EXPECT_EQ(c.tables[0].name.ToString(), "public.orders");
  EXPECT_TRUE(c.tables[0].primary_key.empty());
  EXPECT_FALSE(c.tables[0].skip_snapshot);
  EXPECT_TRUE(c.tables[0].partition.empty());

  EXPECT_EQ(c.source.mode, SourceMode::kLogical);
  EXPECT_EQ(c.source.postgres.port, 5432);
  EXPECT_EQ(c.source.postgres.password, "");
  EXPECT_EQ(c.source.postgres.sslmode, "disable");
  EXPECT_EQ(c.source.postgres.sslrootcert, "");
  EXPECT_EQ(c.source.logical.publication_name, "pg2iceberg_pub");
  EXPECT_EQ(c.source.logical.slot_name, "pg2iceberg_slot");
  EXPECT_EQ(c.source.logical.standby_interval, 10s);
  EXPECT_EQ(c.source.logical.snapshot_concurrency, 2);
  EXPECT_EQ(c.source.logical.snapshot_chunk_pages, 2048);
  EXPECT_EQ(c.source.query.poll_interval, 30s);

  EXPECT_EQ(c.sink.catalog_type, CatalogType::kSql);
  EXPECT_EQ(c.sink.catalog_name, "pg2iceberg");
  EXPECT_EQ(c.sink.catalog_schema, "iceberg");
  EXPECT_EQ(c.sink.catalog_uri, "");
  EXPECT_EQ(c.sink.catalog_auth, CatalogAuth::kNone);
  EXPECT_EQ(c.sink.catalog_token, "");
  EXPECT_EQ(c.sink.catalog_client_id, "");
  EXPECT_EQ(c.sink.catalog_client_secret, "");
  EXPECT_TRUE(c.sink.catalog_props.empty());
  EXPECT_EQ(c.sink.credential_mode, CredentialMode::kStatic);
  EXPECT_EQ(c.sink.warehouse, "file:///srv/app/warehouse");
  EXPECT_EQ(c.sink.ns, "default");
  EXPECT_EQ(c.sink.s3_endpoint, "");
  EXPECT_EQ(c.sink.s3_access_key, "");
  EXPECT_EQ(c.sink.s3_secret_key, "");
  EXPECT_EQ(c.sink.s3_region, "us-east-1");
  EXPECT_EQ(c.sink.flush_interval, 10s);
  EXPECT_EQ(c.sink.flush_rows, 1000);
  EXPECT_EQ(c.sink.flush_bytes, 64 << 20);
  EXPECT_EQ(c.sink.materializer_interval, 10s);
  EXPECT_EQ(c.sink.compaction_data_files, 8);
  EXPECT_EQ(c.sink.compaction_delete_files, 4);
  EXPECT_EQ(c.sink.target_file_size, 128 << 20);
  EXPECT_EQ(c.sink.delete_mode, DeleteMode::kPosition);
  EXPECT_EQ(c.sink.index_dir, "pg2iceberg-index");
  EXPECT_EQ(c.sink.maintenance_retention, Duration(168h));
  EXPECT_EQ(c.sink.maintenance_grace, Duration(30min));
  EXPECT_EQ(c.sink.materialized_prefix, "materialized/");
  EXPECT_EQ(c.sink.meta_namespace, "");

  EXPECT_EQ(c.state.postgres_url, "");
  EXPECT_EQ(c.state.coordinator_schema, "_pg2iceberg");
  EXPECT_EQ(c.state.group, "default");
  EXPECT_EQ(c.metrics_addr, "127.0.0.1:9090");
  EXPECT_FALSE(c.snapshot_only);
}

TEST(ConfigDefaultsTest, RegistryDefaultsMatchTheStruct) {
  // A key whose default in options.cc differs from the struct would be documented wrongly.
  auto from_registry = LoadYaml("");
  ASSERT_TRUE(from_registry.ok()) << from_registry.status().ToString();
  Config plain;
  EXPECT_EQ(from_registry->sink.flush_rows, plain.sink.flush_rows);
  EXPECT_EQ(from_registry->sink.flush_bytes, plain.sink.flush_bytes);
  EXPECT_EQ(from_registry->sink.target_file_size, plain.sink.target_file_size);
  EXPECT_EQ(from_registry->sink.flush_interval, plain.sink.flush_interval);
  EXPECT_EQ(from_registry->source.logical.standby_interval,
            plain.source.logical.standby_interval);
  EXPECT_EQ(from_registry->sink.maintenance_retention, plain.sink.maintenance_retention);
  EXPECT_EQ(from_registry->metrics_addr, plain.metrics_addr);
  // Every registered key has a unique environment name.
  std::set<std::string> names;
  for (const OptionSpec& o : AllOptions()) {
    EXPECT_TRUE(names.insert(EnvNameFor(o.path)).second) << o.path;
    EXPECT_FALSE(o.doc.empty()) << o.path;
  }
}

TEST(ConfigLoadTest, FullUpstreamStyleFile) {
  auto r = LoadYaml(R"y(
tables:
  - name: public.orders
    primary_key: [id]
    iceberg:
      partition: ["day(created_at)", "bucket[16](customer_id)"]
      delete_mode: dv
      mode: both
  - name: '"Odd Schema"."My.Table"'
    skip_snapshot: true
    columns:
      - {name: id, pg_type: bigint, nullable: false}
      - {name: note, pg_type: text}
source:
  mode: logical
  postgres: {host: pg, port: 6543, database: app, user: u, password: pw, sslmode: verify-full, sslrootcert: /ca.pem}
  logical:
    publication_name: pub
    slot_name: slot
    standby_interval: 5s
    snapshot_concurrency: 4
    snapshot_chunk_pages: 512
  query:
    poll_interval: 1m
sink:
  catalog_uri: http://rest:8181
  catalog_auth: oauth2
  catalog_client_id: cid
  catalog_client_secret: csecret
  catalog_props:
    header.X-Tenant: acme
  credential_mode: vended
  warehouse: s3://bucket/wh
  namespace: analytics
  s3_endpoint: http://minio:9000
  s3_access_key: AK
  s3_secret_key: SK
  s3_region: eu-west-1
  flush_interval: 2s
  flush_rows: 5000
  flush_bytes: 16MiB
  materializer_interval: 30s
  compaction_data_files: 10
  compaction_delete_files: 2
  target_file_size: 0
  delete_mode: equality
  maintenance_retention: 24h
  maintenance_grace:
  materialized_prefix: mat/
  meta_namespace: meta
state:
  postgres_url: postgres://coord:cpw@coordhost/coord
  coordinator_schema: _p2i
  group: g1
metrics_addr: 0.0.0.0:9100
snapshot_only: true
)y");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Config& c = *r;
  EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
  ASSERT_EQ(c.tables.size(), 2u);
  EXPECT_EQ(c.tables[0].primary_key, std::vector<std::string>{"id"});
  ASSERT_EQ(c.tables[0].partition.size(), 2u);
  EXPECT_EQ(c.tables[0].partition[1].transform, PartitionTransform::kBucket);
  EXPECT_EQ(c.tables[1].name.schema, "Odd Schema");
  EXPECT_EQ(c.tables[1].name.table, "My.Table");
  EXPECT_TRUE(c.tables[1].skip_snapshot);
  ASSERT_EQ(c.tables[1].columns.size(), 2u);
  EXPECT_FALSE(c.tables[1].columns[0].nullable);
  EXPECT_TRUE(c.tables[1].columns[1].nullable);
  EXPECT_EQ(c.source.postgres.port, 6543);
  EXPECT_EQ(c.source.postgres.sslmode, "verify-full");
  EXPECT_EQ(c.source.logical.standby_interval, 5s);
  EXPECT_EQ(c.source.logical.snapshot_chunk_pages, 512);
  EXPECT_EQ(c.source.query.poll_interval, 1min);
  EXPECT_EQ(c.sink.catalog_type, CatalogType::kRest);  // derived from catalog_uri
  EXPECT_EQ(c.sink.catalog_auth, CatalogAuth::kOAuth2);
  EXPECT_EQ(c.sink.catalog_props.at("header.X-Tenant"), "acme");
  EXPECT_EQ(c.sink.credential_mode, CredentialMode::kVended);
  EXPECT_EQ(c.sink.ns, "analytics");
  EXPECT_EQ(c.sink.flush_bytes, 16 << 20);
  EXPECT_EQ(c.sink.target_file_size, 0);
  EXPECT_EQ(c.sink.delete_mode, DeleteMode::kEquality);
  EXPECT_EQ(c.tables[0].delete_mode, DeleteMode::kDv);
  EXPECT_FALSE(c.tables[1].delete_mode.has_value());
  EXPECT_EQ(c.tables[0].mode, TableMode::kBoth);
  EXPECT_EQ(c.tables[1].mode, TableMode::kMirror);
  EXPECT_EQ(IcebergHistoryNameOf(c.tables[0], c.sink.ns).ToString(), "analytics.orders_history");
  EXPECT_EQ(c.sink.maintenance_retention, Duration(24h));
  EXPECT_FALSE(c.sink.maintenance_grace.has_value());  // blank turns the phase off
  EXPECT_EQ(c.state.group, "g1");
  EXPECT_EQ(c.metrics_addr, "0.0.0.0:9100");
  EXPECT_TRUE(c.snapshot_only);
}

TEST(ConfigLoadTest, UnknownKeysAreWarnedByName) {
  auto r = LoadYaml(R"y(
source:
  postgres: {host: h}
  logical:
    slot_name: s
    proto_version: 2
sink:
  flush_rows: 10
  iceberg_v3: true
frobnicate: 1
tables:
  - name: t
    iceberg: {sort_order: [id]}
    comment: hi
)y");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string all;
  for (const auto& w : r->warnings) all += w + "\n";
  EXPECT_NE(all.find("source.logical.proto_version"), std::string::npos) << all;
  EXPECT_NE(all.find("sink.iceberg_v3"), std::string::npos) << all;
  EXPECT_NE(all.find("frobnicate"), std::string::npos) << all;
  EXPECT_NE(all.find("tables[0].iceberg.sort_order"), std::string::npos) << all;
  EXPECT_NE(all.find("tables[0].comment"), std::string::npos) << all;
  EXPECT_EQ(r->warnings.size(), 5u) << all;
  EXPECT_EQ(r->sink.flush_rows, 10);  // known keys beside unknown ones still apply
}

struct BadValueCase {
  std::string yaml;
  std::string key;       // must be named
  std::string expected;  // a fragment of the allowed values / hint
};

TEST(ConfigLoadTest, InvalidValuesNameTheKeyAndTheAllowedValues) {
  const std::vector<BadValueCase> cases = {
      {"source: {mode: cdc}", "source.mode", "allowed values: logical, query"},
      {"source: {postgres: {port: 99999}}", "source.postgres.port", "between 1 and 65535"},
      {"source: {postgres: {port: abc}}", "source.postgres.port", "expected an integer"},
      {"source: {postgres: {sslmode: strict}}", "source.postgres.sslmode", "verify-full"},
      {"source: {logical: {standby_interval: 10}}", "source.logical.standby_interval",
       "Go-style duration"},
      {"source: {logical: {standby_interval: 0s}}", "source.logical.standby_interval",
       "greater than zero"},
      {"source: {logical: {snapshot_concurrency: 0}}", "source.logical.snapshot_concurrency",
       "between 1 and 64"},
      {"source: {logical: {snapshot_chunk_pages: -3}}", "source.logical.snapshot_chunk_pages",
       "expected an integer"},
      {"source: {query: {poll_interval: soon}}", "source.query.poll_interval", "Go-style"},
      {"sink: {catalog_type: hive}", "sink.catalog_type", "allowed values: sql, rest"},
      {"sink: {catalog_auth: basic}", "sink.catalog_auth", "bearer, oauth2, sigv4"},
      {"sink: {credential_mode: magic}", "sink.credential_mode", "static, iam, vended"},
      {"sink: {delete_mode: vectors}", "sink.delete_mode", "equality, position, dv"},
      {"sink: {flush_interval: 1y}", "sink.flush_interval", "Go-style"},
      {"sink: {flush_rows: 0}", "sink.flush_rows", "between 1"},
      {"sink: {flush_bytes: lots}", "sink.flush_bytes", "64MiB"},
      {"sink: {materializer_interval: -1s}", "sink.materializer_interval", "Go-style"},
      {"sink: {compaction_data_files: 0}", "sink.compaction_data_files", "between 1"},
      {"sink: {compaction_delete_files: x}", "sink.compaction_delete_files", "integer"},
      {"sink: {target_file_size: -1}", "sink.target_file_size", "size"},
      {"sink: {maintenance_retention: forever}", "sink.maintenance_retention", "Go-style"},
      {"sink: {maintenance_grace: 5}", "sink.maintenance_grace", "Go-style"},
      {"sink: {warehouse: relative/dir}", "sink.warehouse", "s3://bucket/prefix"},
      {"sink: {catalog_type: rest}", "sink.catalog_uri", "set sink.catalog_uri"},
      {"sink: {catalog_uri: http://x, catalog_auth: bearer}", "sink.catalog_token", "set it"},
      {"sink: {catalog_uri: http://x, catalog_auth: oauth2, catalog_client_id: a}",
       "sink.catalog_client_secret", "set both"},
      {"sink: {flush_rows: [1, 2]}", "sink.flush_rows", "single value"},
      {"sink: {catalog_props: [a]}", "sink.catalog_props", "mapping"},
      {"snapshot_only: maybe", "snapshot_only", "true or false"},
      {"metrics_addr: localhost", "metrics_addr", "host:port"},
      {"state: {postgres_url: 'postgres://h/db?bogus=1'}", "state.postgres_url",
       "valid PostgreSQL URL"},
      {"tables: {name: t}", "tables", "list"},
      {"tables: [{primary_key: [id]}]", "tables[0]", "`name` is required"},
      {"tables: [{name: 'a.b.c'}]", "tables[0].name", "schema.table"},
      {"tables: [{name: t, iceberg: {partition: ['week(ts)']}}]", "tables[0].iceberg.partition",
       "bucket[N](col)"},
      {"tables: [{name: t, iceberg: {delete_mode: eq}}]", "tables[0].iceberg.delete_mode",
       "equality, position or dv"},
      {"tables: [{name: t, skip_snapshot: perhaps}]", "tables[0].skip_snapshot", "true or false"},
      {"tables: [{name: t, iceberg: {mode: log}}]", "tables[0].iceberg.mode",
       "mirror, history or both"},
      {"source: {mode: query}\ntables: [{name: t, watermark_column: w, iceberg: {mode: both}}]",
       "iceberg.mode both", "source.mode logical"},
      {"tables: [{name: t, iceberg: {mode: history}}, {name: t_history}]", "t_history",
       "would both be written to Iceberg table default.t_history"},
      {"tables: [{name: t, columns: [{name: a}]}]", "tables[0].columns[0]", "pg_type"},
      {"tables: [{name: t}, {name: public.t}]", "public.t", "listed twice"},
      {"source: {mode: query}\ntables: [{name: t}]", "watermark_column", "updated_at"},
      {"tables: [{name: t, batch_size: 0}]", "tables[0].batch_size", "1 to 1000000"},
      {"tables: [{name: t, poll_interval: soon}]", "tables[0].poll_interval", "duration"},
      {"tables: [{name: t, custom_query: ''}]", "tables[0].custom_query", "non-empty"},
      {"source: {query: {max_connections: 0}}", "source.query.max_connections", "between 1"},
      {"tables: [{name: t, capture_operations: [insert, upsert]}]", "tables[0].capture_operations",
       "unknown operation \"upsert\""},
      {"tables: [{name: t, capture_operations: []}]", "tables[0].capture_operations", "at least one"},
      {"source: {mode: query}\nsink: {delete_mode: equality}\n"
       "tables: [{name: t, watermark_column: w, capture_operations: [insert]}]",
       "capture_operations without insert or update in query mode", "position or dv"},
      {"source: {mode: query}\ntables: [{name: t, watermark_column: w, capture_operations: [delete]}]",
       "capture_operations in query mode", "keep insert or update"},
      {"source: [1]", "source", "mapping"},
      {"- just\n- a list", "top level", "mapping"},
      {"sink: {flush_rows: 1\n  bad", "not valid YAML", "line"},
  };
  for (const auto& c : cases) {
    auto r = LoadYaml(c.yaml);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    const std::string& m = r.status().message();
    EXPECT_NE(m.find(c.key), std::string::npos) << c.yaml << "\n  -> " << m;
    EXPECT_NE(m.find(c.expected), std::string::npos) << c.yaml << "\n  -> " << m;
  }
}

TEST(ConfigLoadTest, AllErrorsReportedAtOnce) {
  auto r = LoadYaml("sink: {flush_rows: 0, flush_interval: x}\nsource: {mode: y}");
  ASSERT_FALSE(r.ok());
  for (const char* key : {"sink.flush_rows", "sink.flush_interval", "source.mode"}) {
    EXPECT_NE(r.status().message().find(key), std::string::npos) << key;
  }
}

TEST(ConfigLoadTest, DuplicateKeysAreErrorsNamingThePathAndBothLines) {
  struct DuplicateCase {
    std::string yaml;
    std::string expected;
  };
  const std::vector<DuplicateCase> cases = {
      {"source:\n  mode: logical\nsink: {flush_rows: 5}\nsource:\n  mode: query\n",
       "test.yaml:4: duplicate key source (first at line 1); remove one"},
      {"source:\n  postgres:\n    host: db\n    port: 5432\n    user: u\n    port: 6432\n",
       "test.yaml:6: duplicate key source.postgres.port (first at line 4); remove one"},
      {"tables:\n  - name: a\n  - name: b\n    primary_key: [id]\n    name: c\n",
       "test.yaml:5: duplicate key tables[1].name (first at line 3); remove one"},
      {"tables:\n  - name: a\n    columns:\n      - {name: x, pg_type: int, name: y}\n",
       "test.yaml:4: duplicate key tables[0].columns[0].name (first at line 4); remove one"},
      {"sink:\n  catalog_props:\n    a: 1\n    a: 2\n",
       "test.yaml:4: duplicate key sink.catalog_props.a (first at line 3); remove one"},
  };
  for (const auto& c : cases) {
    auto r = LoadYaml(c.yaml);
    EXPECT_FALSE(r.ok()) << "accepted:\n" << c.yaml;
    if (r.ok()) continue;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos)
        << c.yaml << "\n  -> " << r.status().message();
  }
  // The same key in different mappings is not a duplicate.
  auto ok = LoadYaml("tables:\n  - name: a\n  - name: b\nsource: {postgres: {host: h}}\n"
                     "sink: {catalog_props: {host: x}}\n");
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(ConfigLoadTest, ADuplicatedTableIsReportedOncePerTable) {
  auto r = LoadYaml("tables: [{name: t}, {name: public.t}, {name: u}, {name: t}, {name: u}]");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t p = m.find(needle); p != std::string::npos; p = m.find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("public.t is listed"), 1u) << m;
  EXPECT_EQ(count("public.u is listed"), 1u) << m;
  EXPECT_NE(m.find("public.t is listed 3 times (tables[0], tables[1], tables[3]); keep one"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("public.u is listed twice (tables[2], tables[4]); keep one"),
            std::string::npos)
      << m;
  // A list from the environment is named by its variable, not by YAML positions.
  auto env = LoadYaml("", {{"PG2ICEBERG_TABLES", "t, public.t"}});
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("PG2ICEBERG_TABLES: public.t is listed twice; keep one"),
            std::string::npos)
      << env.status().message();
}

TEST(ConfigEnvTest, EnvironmentVariablesInUseNamesOnlyWhatTheLoaderReads) {
  EXPECT_TRUE(EnvironmentVariablesInUse(MapEnv({{"HOME", "/root"}, {"PATH", "/bin"}})).empty());
  // An empty value sets nothing (except for keys where empty means "off").
  EXPECT_TRUE(EnvironmentVariablesInUse(MapEnv({{"PG2ICEBERG_SOURCE_POSTGRES_HOST", ""}})).empty());
  EXPECT_EQ(EnvironmentVariablesInUse(MapEnv({{"PG2ICEBERG_SOURCE_POSTGRES_HOST", "db"},
                                              {"POSTGRES_URL", "postgres://h/d"},
                                              {"PG2ICEBERG_TABLES", "a"},
                                              {"PG2ICEBERG_SINK_MAINTENANCE_GRACE", ""},
                                              {"HOME", "/root"}})),
            (std::vector<std::string>{"PG2ICEBERG_SINK_MAINTENANCE_GRACE",
                                      "PG2ICEBERG_SOURCE_POSTGRES_HOST", "PG2ICEBERG_TABLES",
                                      "POSTGRES_URL"}));
}

TEST(ConfigEnvTest, Pg2icebergPrefixOverridesEveryScalar) {
  // Setting every key through PG2ICEBERG_<PATH> changes it away from the YAML value.
  auto r = LoadYaml(kMinimal, {
                                  {"PG2ICEBERG_SINK_FLUSH_ROWS", "5000"},
                                  {"PG2ICEBERG_SINK_S3_SECRET_KEY", "envsecret"},
                                  {"PG2ICEBERG_SOURCE_POSTGRES_HOST", "envhost"},
                                  {"PG2ICEBERG_SOURCE_LOGICAL_SLOT_NAME", "envslot"},
                                  {"PG2ICEBERG_SINK_MAINTENANCE_GRACE", ""},
                                  {"PG2ICEBERG_STATE_GROUP", "envgroup"},
                                  {"PG2ICEBERG_METRICS_ADDR", "127.0.0.1:9999"},
                                  {"PG2ICEBERG_SNAPSHOT_ONLY", "true"},
                                  {"PG2ICEBERG_SINK_FLUSH_INTERVAL", "250ms"},
                              });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->sink.flush_rows, 5000);
  EXPECT_EQ(r->sink.s3_secret_key, "envsecret");
  EXPECT_EQ(r->source.postgres.host, "envhost");
  EXPECT_EQ(r->source.logical.slot_name, "envslot");
  EXPECT_FALSE(r->sink.maintenance_grace.has_value());
  EXPECT_EQ(r->state.group, "envgroup");
  EXPECT_EQ(r->metrics_addr, "127.0.0.1:9999");
  EXPECT_TRUE(r->snapshot_only);
  EXPECT_EQ(r->sink.flush_interval, 250ms);
}

TEST(ConfigEnvTest, EveryRegisteredKeyHasAWorkingEnvironmentName) {
  // A value that is valid for the key's kind must reach the effective configuration.
  for (const OptionSpec& o : AllOptions()) {
    std::string value;
    switch (o.kind) {
      case OptionKind::kInt:
        value = std::to_string(o.min + 1);
        if (value == o.default_value) value = std::to_string(o.min + 2);
        break;
      case OptionKind::kDuration: value = "7s"; break;
      case OptionKind::kBytes: value = o.min > (3 << 20) ? "1GiB" : "3MiB"; break;
      case OptionKind::kBool: value = "true"; break;
      case OptionKind::kEnum: {
        std::string_view a = o.allowed;
        value = std::string(a.substr(a.rfind('|') + 1));
        if (value == o.default_value) value = std::string(a.substr(0, a.find('|')));
        break;
      }
      case OptionKind::kSecretUrl: value = "postgres://u:envpw@h/d"; break;
      default: value = o.path == "metrics_addr" ? "1.2.3.4:5" : "env-value"; break;
    }
    if (o.path == "sink.warehouse") value = "s3://b/p";
    if (o.path == "notifications.webhook_url") value = "http://receiver/hook";
    if (o.path == "sink.table_name") value = "{schema}_{table}";
    if (o.path == "sink.s3_tables_arn") value = "arn:aws:s3tables:us-east-2:111122223333:bucket/b";
    std::map<std::string, std::string> env = {{EnvNameFor(o.path), value}};
    if (o.path == "sink.catalog_type") env["PG2ICEBERG_SINK_CATALOG_URI"] = "http://x";
    if (o.path == "source.logical.markers_table") env["PG2ICEBERG_SINK_META_NAMESPACE"] = "m";
    auto with = LoadYaml("", env);
    auto without = LoadYaml("");
    ASSERT_TRUE(with.ok()) << o.path << ": " << with.status().ToString();
    EXPECT_NE(with->Redacted(), without->Redacted()) << o.path << " ignored its env var";
  }
}

TEST(ConfigTest, MarkersNeedTheMetaNamespaceAndATableOfTheirOwn) {
  auto ok = LoadYaml(R"y(
source: {logical: {markers_table: ops.markers}}
sink: {meta_namespace: pg2iceberg_meta}
tables: [{name: public.orders}]
)y");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_TRUE(ok->source.logical.markers_table.has_value());
  EXPECT_EQ(ok->source.logical.markers_table->ToString(), "ops.markers");
  auto no_meta = LoadYaml(R"y(
source: {logical: {markers_table: ops.markers}}
tables: [{name: public.orders}]
)y");
  ASSERT_FALSE(no_meta.ok());
  EXPECT_NE(no_meta.status().message().find("set sink.meta_namespace too"), std::string::npos);
  auto replicated = LoadYaml(R"y(
source: {logical: {markers_table: public.orders}}
sink: {meta_namespace: pg2iceberg_meta}
tables: [{name: public.orders}]
)y");
  ASSERT_FALSE(replicated.ok());
  EXPECT_NE(replicated.status().message().find("markers need a table of their own"),
            std::string::npos);
}

TEST(ConfigEnvTest, UpstreamNames) {
  auto r = LoadYaml(R"y(
tables:
  - name: public.orders
    primary_key: [order_id]
)y",
                    {
                        {"POSTGRES_URL", "postgres://rep:upw@pghost:6000/shop?sslmode=require"},
                        {"TABLES", "public.orders, public.customers"},
                        {"MODE", "logical"},
                        {"SLOT_NAME", "up_slot"},
                        {"PUBLICATION_NAME", "up_pub"},
                        {"ICEBERG_CATALOG_URL", "http://rest:8181/catalog"},
                        {"WAREHOUSE", "s3://lake/wh"},
                        {"NAMESPACE", "raw"},
                        {"S3_ENDPOINT", "http://s3:9000"},
                        {"S3_ACCESS_KEY", "ak"},
                        {"S3_SECRET_KEY", "sk"},
                        {"S3_REGION", "eu-central-1"},
                        {"STATE_POSTGRES_URL", "postgres://c@coord/c"},
                    });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Config& c = *r;
  EXPECT_EQ(c.source.postgres.host, "pghost");
  EXPECT_EQ(c.source.postgres.port, 6000);
  EXPECT_EQ(c.source.postgres.database, "shop");
  EXPECT_EQ(c.source.postgres.user, "rep");
  EXPECT_EQ(c.source.postgres.password, "upw");
  EXPECT_EQ(c.source.postgres.sslmode, "require");
  ASSERT_EQ(c.tables.size(), 2u);
  EXPECT_EQ(c.tables[0].primary_key, std::vector<std::string>{"order_id"});  // kept from YAML
  EXPECT_EQ(c.tables[1].name.table, "customers");
  EXPECT_EQ(c.source.logical.slot_name, "up_slot");
  EXPECT_EQ(c.source.logical.publication_name, "up_pub");
  EXPECT_EQ(c.sink.catalog_uri, "http://rest:8181/catalog");
  EXPECT_EQ(c.sink.catalog_type, CatalogType::kRest);
  EXPECT_EQ(c.sink.warehouse, "s3://lake/wh");
  EXPECT_EQ(c.sink.ns, "raw");
  EXPECT_EQ(c.sink.s3_endpoint, "http://s3:9000");
  EXPECT_EQ(c.sink.s3_access_key, "ak");
  EXPECT_EQ(c.sink.s3_secret_key, "sk");
  EXPECT_EQ(c.sink.s3_region, "eu-central-1");
  EXPECT_EQ(c.state.postgres_url, "postgres://c@coord/c");
}

TEST(ConfigEnvTest, OneContainerNamesAndPrecedence) {
  auto r = LoadYaml("source: {postgres: {host: yamlhost, port: 1111}}",
                    {
                        {"POSTGRES_URL", "postgres://urluser@urlhost:2222/urldb"},
                        {"POSTGRES_HOST", "boxhost"},
                        {"POSTGRES_PORT", "3333"},
                        {"POSTGRES_DB", "boxdb"},
                        {"POSTGRES_USER", "boxuser"},
                        {"POSTGRES_PASSWORD", "boxpw"},
                        {"AWS_REGION", "ap-south-1"},
                        {"PG2ICEBERG_SOURCE_POSTGRES_PORT", "4444"},
                    });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source.postgres.host, "boxhost");   // one-container beats POSTGRES_URL
  EXPECT_EQ(r->source.postgres.port, 4444);        // PG2ICEBERG_* beats both
  EXPECT_EQ(r->source.postgres.database, "boxdb");
  EXPECT_EQ(r->source.postgres.user, "boxuser");
  EXPECT_EQ(r->source.postgres.password, "boxpw");
  EXPECT_EQ(r->sink.s3_region, "ap-south-1");
  // S3_REGION, when both are present, is the more specific one.
  auto r2 = LoadYaml("", {{"AWS_REGION", "a"}, {"S3_REGION", "b"}});
  EXPECT_EQ(r2->sink.s3_region, "b");
}

TEST(ConfigEnvTest, FlagsBeatEnvironmentBeatsYaml) {
  auto r = LoadYaml("sink: {maintenance_retention: 1h, flush_rows: 7}",
                    {{"PG2ICEBERG_SINK_MAINTENANCE_RETENTION", "2h"}},
                    {{"sink.maintenance_retention", "3h"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sink.maintenance_retention, Duration(3h));
  EXPECT_EQ(r->sink.flush_rows, 7);
  auto env_only = LoadYaml("sink: {maintenance_retention: 1h}",
                           {{"PG2ICEBERG_SINK_MAINTENANCE_RETENTION", "2h"}});
  EXPECT_EQ(env_only->sink.maintenance_retention, Duration(2h));
}

TEST(ConfigEnvTest, InvalidEnvironmentValueNamesTheVariable) {
  auto r = LoadYaml(kMinimal, {{"PG2ICEBERG_SINK_FLUSH_ROWS", "many"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sink.flush_rows"), std::string::npos);
  EXPECT_NE(r.status().message().find("PG2ICEBERG_SINK_FLUSH_ROWS"), std::string::npos);
  auto bad_url = LoadYaml("", {{"POSTGRES_URL", "postgres://u:hunter2@h/db?bogus=1"}});
  ASSERT_FALSE(bad_url.ok());
  EXPECT_NE(bad_url.status().message().find("POSTGRES_URL"), std::string::npos);
  EXPECT_EQ(bad_url.status().message().find("hunter2"), std::string::npos);
}

TEST(ConfigSecretsTest, SecretsNeverAppearInRedactedOutputOrErrors) {
  const std::vector<std::string> secrets = {"pw-S3CR3T-1", "sk-S3CR3T-2", "tok-S3CR3T-3",
                                            "cs-S3CR3T-4", "url-S3CR3T-5", "prop-S3CR3T-6"};
  std::string yaml = R"y(
source: {postgres: {host: h, password: pw-S3CR3T-1}}
sink:
  catalog_uri: http://rest
  catalog_auth: bearer
  catalog_token: tok-S3CR3T-3
  catalog_client_secret: cs-S3CR3T-4
  s3_secret_key: sk-S3CR3T-2
  catalog_props: {header.Authorization: prop-S3CR3T-6, header.X-Plain: visible}
state: {postgres_url: 'postgres://coord:url-S3CR3T-5@host:5432/db'}
tables: [{name: t}]
)y";
  auto ok = LoadYaml(yaml);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  const std::string shown = ok->Redacted();
  for (const auto& s : secrets) {
    EXPECT_EQ(shown.find(s), std::string::npos) << s << " leaked:\n" << shown;
  }
  EXPECT_NE(shown.find("********"), std::string::npos);
  EXPECT_NE(shown.find("visible"), std::string::npos);
  EXPECT_NE(shown.find("postgres://coord:********@host:5432/db"), std::string::npos) << shown;
  EXPECT_EQ(ok->source.postgres.RedactedConnString().find("pw-S3CR3T-1"), std::string::npos);
  EXPECT_NE(ok->source.postgres.ConnString().find("pw-S3CR3T-1"), std::string::npos);

  // The same file with other keys broken: the error must not carry any secret either.
  auto bad = LoadYaml(yaml + "metrics_addr: nope\nsource: {mode: nope}\n",
                      {{"PG2ICEBERG_SINK_FLUSH_ROWS", "x"},
                       {"STATE_POSTGRES_URL", "postgres://a:url-S3CR3T-5@h:bad/d"}});
  ASSERT_FALSE(bad.ok());
  for (const auto& s : secrets) {
    EXPECT_EQ(bad.status().message().find(s), std::string::npos) << s << " leaked";
  }
}

TEST(ConfigSecretsTest, KeywordConnStringRedaction) {
  auto r = LoadYaml("", {{"STATE_POSTGRES_URL", "host=h password='se cr\\'et' user=u"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string shown = r->Redacted();
  EXPECT_EQ(shown.find("se cr"), std::string::npos) << shown;
  EXPECT_NE(shown.find("user=u"), std::string::npos) << shown;
}

TEST(ConfigPostgresTest, ConnStringQuotesValues) {
  PostgresConfig pg;
  pg.host = "h";
  pg.database = "my db";
  pg.user = "o'brien";
  EXPECT_EQ(pg.ConnString(), "host='h' port='5432' dbname='my db' user='o\\'brien' "
                             "sslmode='disable'");
}

TEST(ConfigFileTest, MissingFileSaysWhatToDo) {
  auto r = LoadFile("/nonexistent/pg2iceberg.yaml", [](const std::string&) {
    return std::optional<std::string>();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--config"), std::string::npos);
}

TEST(ConfigFileTest, DefaultFileMissingAndNoEnvironmentIsAnError) {
  bool file_read = true;
  auto none = LoadDefaultFile("/nonexistent/dir/config.yaml", MapEnv({{"HOME", "/root"}}),
                              &file_read);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(none.status().message(),
            "no configuration: config.yaml not found in /nonexistent/dir and no PG2ICEBERG_* "
            "environment variables are set; pass --config FILE (see docs/configuration.md)");

  auto env = LoadDefaultFile("/nonexistent/dir/config.yaml",
                             MapEnv({{"PG2ICEBERG_SOURCE_POSTGRES_HOST", "db"}}), &file_read);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_FALSE(file_read);
  EXPECT_EQ(env->source.postgres.host, "db");

  const std::string path = ::testing::TempDir() + "/default-config.yaml";
  std::ofstream(path) << "source: {postgres: {host: from-file}}\n";
  auto file = LoadDefaultFile(path, MapEnv({}), &file_read);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE(file_read);
  EXPECT_EQ(file->source.postgres.host, "from-file");
}

TEST(ConfigTest, QueryModeOptionsPerTableOverrideTheSourceDefaults) {
  auto cfg = LoadYaml(
      "source: {mode: query, query: {batch_size: 500, lookback: 2m, max_connections: 3}}\n"
      "tables:\n"
      "  - {name: a, watermark_column: ts}\n"
      "  - {name: b, watermark_column: n, batch_size: 10, poll_interval: 2s, lookback: 0s,\n"
      "     initial_offset: '100', custom_query: 'SELECT * FROM b WHERE n >= $1 LIMIT $2'}\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->source.query.batch_size, 500);
  EXPECT_EQ(cfg->source.query.lookback, std::chrono::minutes(2));
  EXPECT_EQ(cfg->source.query.max_connections, 3);
  EXPECT_FALSE(cfg->tables[0].batch_size.has_value());
  EXPECT_EQ(cfg->tables[1].batch_size, 10);
  EXPECT_EQ(cfg->tables[1].poll_interval, std::chrono::seconds(2));
  EXPECT_EQ(cfg->tables[1].lookback, std::chrono::seconds(0));
  EXPECT_EQ(cfg->tables[1].initial_offset, "100");
  EXPECT_EQ(cfg->tables[1].custom_query, "SELECT * FROM b WHERE n >= $1 LIMIT $2");
  // What `config` shows loads back the same.
  auto again = LoadYaml(cfg->Redacted());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->tables[1].custom_query, cfg->tables[1].custom_query);
  EXPECT_EQ(again->tables[1].poll_interval, cfg->tables[1].poll_interval);
  EXPECT_EQ(again->source.query.lookback, cfg->source.query.lookback);
}

TEST(ConfigTest, SnakeCaseColumnNamesAndTheirCollisions) {
  EXPECT_EQ(SnakeCase("CustomerID"), "customer_id");
  EXPECT_EQ(SnakeCase("HTTPServer"), "http_server");
  EXPECT_EQ(SnakeCase("firstName"), "first_name");
  EXPECT_EQ(SnakeCase("Order Total"), "order_total");
  EXPECT_EQ(SnakeCase("already_snake"), "already_snake");
  EXPECT_EQ(SnakeCase("v2Value"), "v2_value");
  auto cfg = LoadYaml("tables: [{name: t, iceberg: {column_names: snake_case}}, {name: u}]");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(IcebergColumnName(cfg->tables[0], "CustomerID"), "customer_id");
  EXPECT_EQ(IcebergColumnName(cfg->tables[1], "CustomerID"), "CustomerID");
  Status clash = CheckColumnNames(cfg->tables[0], {"id", "FooBar", "foo_bar"});
  EXPECT_EQ(clash.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(clash.message().find("\"FooBar\" and \"foo_bar\""), std::string::npos) << clash.message();
  EXPECT_TRUE(CheckColumnNames(cfg->tables[1], {"FooBar", "foo_bar"}).ok());
  auto again = LoadYaml(cfg->Redacted());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->tables[0].snake_case_columns);
  EXPECT_FALSE(LoadYaml("tables: [{name: t, iceberg: {column_names: camel}}]").ok());
}

TEST(ConfigTest, MaxOutageIsUnboundedUnlessSet) {
  auto unset = LoadYaml("source: {postgres: {host: h, database: d, user: u}}\ntables: [{name: public.t}]");
  ASSERT_TRUE(unset.ok()) << unset.status().ToString();
  EXPECT_FALSE(unset->max_outage.has_value());
  auto set = LoadYaml("source: {postgres: {host: h, database: d, user: u}}\nmax_outage: 5m\n"
                      "tables: [{name: public.t}]");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->max_outage, std::chrono::minutes(5));
  EXPECT_FALSE(LoadYaml("source: {postgres: {host: h, database: d, user: u}}\nmax_outage: soon\n"
                        "tables: [{name: public.t}]")
                   .ok());
}

TEST(ConfigDocsTest, ReferenceIsInSyncWithTheRegistry) {
  std::ifstream in(std::string(PG2I_DOCS_DIR) + "/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing; run: pg2iceberg config --reference "
                     "> docs/configuration.md";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), RenderReferenceMarkdown())
      << "docs/configuration.md is stale; run: pg2iceberg config --reference > "
         "docs/configuration.md";
}

}  // namespace
}  // namespace pg2iceberg::config

namespace pg2iceberg::config {
namespace {

TEST(ConfigIcebergNameTest, MetaTablesNeedANamespaceOfTheirOwn) {
  auto r = LoadYaml(R"y(
source: {postgres: {host: h, database: d, user: u}}
sink: {meta_namespace: default}
tables:
  - name: public.commits
)y");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sink.meta_namespace: default also holds table "
                                      "public.commits's Iceberg table"),
            std::string::npos)
      << r.status().message();
  EXPECT_TRUE(LoadYaml(R"y(
source: {postgres: {host: h, database: d, user: u}}
sink: {meta_namespace: pg2iceberg_meta}
tables:
  - name: public.commits
)y")
                  .ok());
}

TEST(ConfigIcebergNameTest, TablesThatWouldShareAnIcebergTableAreRefusedWithTheFix) {
  auto r = LoadYaml(R"y(
source: {postgres: {host: h, database: d, user: u}}
tables:
  - name: public.orders
  - name: sales.orders
)y");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(
                "tables: public.orders and sales.orders would both be written to Iceberg table "
                "default.orders; give one of them its own tables[].iceberg.name (e.g. name: "
                "sales_orders) or tables[].iceberg.namespace"),
            std::string::npos)
      << r.status().message();
}

TEST(ConfigIcebergNameTest, NamespaceAndNameMapTablesApart) {
  auto r = LoadYaml(R"y(
source: {postgres: {host: h, database: d, user: u}}
sink: {namespace: analytics}
tables:
  - name: public.orders
  - name: sales.orders
    iceberg: {name: sales_orders}
  - name: sales.items
    iceberg: {namespace: sales}
)y");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(IcebergNameOf(r->tables[0], r->sink.ns).ToString(), "analytics.orders");
  EXPECT_EQ(IcebergNameOf(r->tables[1], r->sink.ns).ToString(), "analytics.sales_orders");
  EXPECT_EQ(IcebergNameOf(r->tables[2], r->sink.ns).ToString(), "sales.items");
  // The effective configuration shows the mapping.
  EXPECT_NE(r->Redacted().find("name: sales_orders"), std::string::npos) << r->Redacted();
  auto bad = LoadYaml(R"y(
source: {postgres: {host: h, database: d, user: u}}
tables:
  - name: public.orders
    iceberg: {name: "../x"}
)y");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tables[0].iceberg.name: expected a non-empty name"),
            std::string::npos)
      << bad.status().message();
}

TEST(ConfigTest, AnS3TablesArnSelectsTheRegionsSignedEndpointAndATemplateNamesTheTables) {
  auto c = LoadYaml(R"y(
sink: {s3_tables_arn: "arn:aws:s3tables:eu-west-3:111122223333:bucket/analytics",
       namespace: cdc, table_name: "{schema}_{table}"}
tables: [{name: public.orders}, {name: sales.orders}, {name: public.t, iceberg: {name: kept}}]
)y");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sink.catalog_type, CatalogType::kRest);
  EXPECT_EQ(c->sink.catalog_uri, "https://s3tables.eu-west-3.amazonaws.com/iceberg");
  EXPECT_EQ(c->sink.catalog_auth, CatalogAuth::kSigV4);
  EXPECT_EQ(c->sink.catalog_props.at("warehouse"),
            "arn:aws:s3tables:eu-west-3:111122223333:bucket/analytics");
  EXPECT_EQ(c->sink.catalog_props.at("rest.signing-name"), "s3tables");
  EXPECT_EQ(c->sink.catalog_props.at("rest.signing-region"), "eu-west-3");
  EXPECT_EQ(IcebergNameOf(c->tables[0], c->sink.ns).ToString(), "cdc.public_orders");
  EXPECT_EQ(IcebergNameOf(c->tables[1], c->sink.ns).ToString(), "cdc.sales_orders");
  EXPECT_EQ(IcebergNameOf(c->tables[2], c->sink.ns).ToString(), "cdc.kept");

  // The environment alone, as the one-container image is configured; an explicit endpoint and
  // catalog property win.
  auto env = LoadYaml("", {{"S3_TABLE_BUCKET_ARN",
                            "arn:aws:s3tables:us-east-2:111122223333:bucket/b"},
                           {"PG2ICEBERG_SINK_CATALOG_URI", "http://127.0.0.1:1/iceberg"}});
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->sink.catalog_uri, "http://127.0.0.1:1/iceberg");
  EXPECT_EQ(env->sink.catalog_props.at("rest.signing-region"), "us-east-2");

  auto glue = LoadYaml("sink: {glue_catalog_id: \"111122223333\", s3_region: ap-south-1}\n");
  ASSERT_TRUE(glue.ok()) << glue.status().ToString();
  EXPECT_EQ(glue->sink.catalog_uri, "https://glue.ap-south-1.amazonaws.com/iceberg");
  EXPECT_EQ(glue->sink.catalog_props.at("rest.signing-name"), "glue");
  EXPECT_EQ(glue->sink.catalog_props.at("warehouse"), "111122223333");

  auto bad = LoadYaml(R"y(
sink: {s3_tables_arn: "arn:aws:s3:::bucket", table_name: "t_{schema}"}
)y");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sink.s3_tables_arn: expected a table bucket ARN"),
            std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("sink.table_name"), std::string::npos);
  // Two tables the template maps to one Iceberg table are refused.
  auto clash = LoadYaml(R"y(
sink: {table_name: "x_{table}"}
tables: [{name: public.orders}, {name: sales.orders}]
)y");
  EXPECT_FALSE(clash.ok());
}

TEST(ConfigTest, NotificationsNeedAnHttpUrlAndAPostgresChannelName) {
  auto ok = LoadYaml(R"y(
notifications: {webhook_url: "https://hooks.example/x?token=abc", channel: pg2iceberg_commits}
tables: [{name: public.orders}]
)y");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->notifications.enabled());
  EXPECT_EQ(ok->notifications.channel, "pg2iceberg_commits");
  EXPECT_EQ(ok->Redacted().find("token=abc"), std::string::npos) << ok->Redacted();
  auto bad = LoadYaml(R"y(
notifications: {webhook_url: "hooks.example/x", channel: )y" + std::string(64, 'c') + R"y(}
tables: [{name: public.orders}]
)y");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("notifications.webhook_url"), std::string::npos);
  EXPECT_NE(bad.status().message().find("notifications.channel"), std::string::npos);
  EXPECT_FALSE(LoadYaml("tables: [{name: public.orders}]")->notifications.enabled());
}

}  // namespace
}  // namespace pg2iceberg::config

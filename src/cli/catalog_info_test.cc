// The pure part of `pg2iceberg catalog-info`: configuration → settings text and engine
// snippets. The snippets themselves are run against real tables by tests/querying.
#include "cli/catalog_info.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace pg2iceberg::cli {
namespace {

constexpr Engine kAllEngines[] = {Engine::kDuckDb, Engine::kPyIceberg, Engine::kSpark,
                                  Engine::kTrino, Engine::kJava};

CatalogInfo InfoOf(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  config::LoadOptions o;
  o.yaml = yaml;
  o.env = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  o.working_directory = "/srv/app";
  auto cfg = config::Load(o);
  EXPECT_TRUE(cfg.ok()) << cfg.status().ToString();
  auto info = CatalogInfoOf(*cfg);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  return *info;
}

std::string Snippet(const CatalogInfo& info, Engine engine, std::string_view table = {}) {
  auto s = RenderSnippet(info, engine, table);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : "";
}

// Everything the command can print for `info`.
std::string AllText(const CatalogInfo& info) {
  std::string all = RenderSettings(info);
  for (Engine e : kAllEngines) all += Snippet(info, e);
  return all;
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

const char* kDefaults = R"y(
source:
  postgres: {host: db.internal, port: 5433, database: shop, user: replicator}
tables:
  - name: public.orders
  - name: sales.refunds
)y";

const char* kRestS3 = R"y(
source:
  postgres: {host: db.internal, database: shop, user: replicator}
sink:
  catalog_uri: http://catalog:8181
  warehouse: s3://lake/prefix
  s3_endpoint: http://minio:9000
  s3_access_key: AKIAEXAMPLE
  s3_secret_key: very-secret-s3-key
tables:
  - name: public.orders
)y";

TEST(CatalogInfoTest, EmbeddedDefaultsPointAtTheSqlCatalogInTheSourceDatabase) {
  CatalogInfo info = InfoOf(kDefaults);
  EXPECT_TRUE(info.sql());
  EXPECT_EQ(info.db.JdbcUri(), "jdbc:postgresql://db.internal:5433/shop");
  EXPECT_EQ(info.SqlAlchemyUri(),
            "postgresql+psycopg2://replicator:<password>@db.internal:5433/shop"
            "?options=-csearch_path%3Diceberg");
  EXPECT_EQ(info.catalog_schema, "iceberg");
  EXPECT_EQ(info.catalog_name, "pg2iceberg");
  EXPECT_EQ(info.warehouse, "file:///srv/app/warehouse");
  ASSERT_EQ(info.tables.size(), 2u);
  EXPECT_EQ(info.tables[0].Ident(), "default.orders");
  EXPECT_EQ(info.tables[1].source, "sales.refunds");
  EXPECT_EQ(info.tables[1].Ident(), "default.refunds");
}

TEST(CatalogInfoTest, SettingsNameEveryValueAnEngineNeeds) {
  CatalogInfo info = InfoOf(kDefaults);
  info.tables[0].metadata_location = "file:///srv/app/warehouse/default/orders/metadata/m.json";
  info.tables[1].note = "could not be read: connection refused";
  const std::string text = RenderSettings(info);
  for (std::string_view want :
       {"catalog:           sql", "uri:               jdbc:postgresql://db.internal:5433/shop",
        "catalog schema:    iceberg", "catalog name:      pg2iceberg",
        "warehouse:         file:///srv/app/warehouse", "namespace:         default",
        "public.orders -> default.orders", "metadata:        file:///srv/app/warehouse",
        "(could not be read: connection refused)", "none configured"}) {
    EXPECT_TRUE(Contains(text, want)) << want << "\n" << text;
  }
}

TEST(CatalogInfoTest, PasswordIsAPlaceholderNamingWhereItLives) {
  CatalogInfo info = InfoOf(kDefaults, {{"PG2ICEBERG_SOURCE_POSTGRES_PASSWORD", "hunter2!x"}});
  const std::string all = AllText(info);
  EXPECT_FALSE(Contains(all, "hunter2")) << all;
  EXPECT_TRUE(Contains(all, "<password>"));
  EXPECT_TRUE(Contains(RenderSettings(info), "PG2ICEBERG_SOURCE_POSTGRES_PASSWORD"));
}

TEST(CatalogInfoTest, StatePostgresUrlHoldsTheCatalogWhenSet) {
  CatalogInfo info = InfoOf(std::string(kDefaults) +
                            "state: {postgres_url: "
                            "'postgres://coord:pw-in-url@coord.internal:6543/state"
                            "?sslmode=require'}\n");
  EXPECT_EQ(info.db.JdbcUri(), "jdbc:postgresql://coord.internal:6543/state?sslmode=require");
  EXPECT_EQ(info.db.user, "coord");
  EXPECT_TRUE(info.db.password_set);
  const std::string all = AllText(info);
  EXPECT_FALSE(Contains(all, "pw-in-url")) << all;
  EXPECT_TRUE(Contains(RenderSettings(info), "PG2ICEBERG_STATE_POSTGRES_URL"));
  EXPECT_TRUE(Contains(info.SqlAlchemyUri(), "&sslmode=require"));
}

TEST(CatalogInfoTest, UnixSocketBecomesLocalhostWithANote) {
  CatalogInfo info = InfoOf("source: {postgres: {database: shop, user: u}}\n"
                            "tables: [{name: orders}]\n");
  EXPECT_EQ(info.db.JdbcUri(), "jdbc:postgresql://localhost:5432/shop");
  EXPECT_TRUE(Contains(RenderSettings(info), "Unix socket"));
}

TEST(CatalogInfoTest, DuckDbReadsTheCurrentMetadataFile) {
  CatalogInfo info = InfoOf(kDefaults);
  info.tables[0].metadata_location = "file:///w/default/orders/metadata/00002-a.metadata.json";
  EXPECT_EQ(Snippet(info, Engine::kDuckDb),
            "INSTALL iceberg;\n"
            "LOAD iceberg;\n"
            "-- default.orders at its current snapshot; the metadata location changes with "
            "every commit\n"
            "-- (pg2iceberg catalog-info --engine duckdb prints the newest)\n"
            "SELECT * FROM "
            "iceberg_scan('file:///w/default/orders/metadata/00002-a.metadata.json');\n");
  // Unknown location: a placeholder the user replaces.
  EXPECT_TRUE(Contains(Snippet(info, Engine::kDuckDb, "sales.refunds"),
                       "iceberg_scan('<metadata-location>')"));
}

TEST(CatalogInfoTest, SnippetsCarryTheCatalogSettings) {
  CatalogInfo info = InfoOf(kDefaults);
  const std::string py = Snippet(info, Engine::kPyIceberg);
  EXPECT_TRUE(Contains(py, "\"type\": \"sql\""));
  EXPECT_TRUE(Contains(py, "?options=-csearch_path%3Diceberg"));
  EXPECT_TRUE(Contains(py, "catalog.load_table(\"default.orders\")"));
  const std::string java = Snippet(info, Engine::kJava);
  EXPECT_TRUE(Contains(java, "properties.put(\"jdbc.currentSchema\", \"iceberg\");"));
  EXPECT_TRUE(Contains(java, "catalog.initialize(\"pg2iceberg\", properties);"));
  EXPECT_TRUE(Contains(java, "TableIdentifier.of(\"default\", \"orders\")"));
  // Spark passes its catalog name to JdbcCatalog, so it must be sink.catalog_name.
  const std::string spark = Snippet(info, Engine::kSpark);
  EXPECT_TRUE(Contains(spark, "spark.sql.catalog.pg2iceberg.type=jdbc"));
  EXPECT_TRUE(Contains(spark, "-e 'SELECT * FROM pg2iceberg.`default`.orders'"));
  const std::string trino = Snippet(info, Engine::kTrino);
  EXPECT_TRUE(Contains(trino, "iceberg.jdbc-catalog.connection-url=jdbc:postgresql://"
                              "db.internal:5433/shop?currentSchema=iceberg\n"));
  EXPECT_TRUE(Contains(trino, "SELECT * FROM pg2iceberg.\"default\".orders;"));
  EXPECT_TRUE(Contains(trino, "fs.hadoop.enabled=true"));
}

TEST(CatalogInfoTest, TableIsChosenByAnyOfItsNames) {
  CatalogInfo info = InfoOf(kDefaults);
  for (std::string_view name : {"sales.refunds", "default.refunds", "refunds"}) {
    EXPECT_TRUE(Contains(Snippet(info, Engine::kPyIceberg, name), "\"default.refunds\""))
        << name;
  }
  auto missing = RenderSnippet(info, Engine::kJava, "public.nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(missing.status().message(), "public.orders, sales.refunds"));
}

TEST(CatalogInfoTest, RestWithS3KeepsSecretsOut) {
  CatalogInfo info = InfoOf(kRestS3);
  EXPECT_FALSE(info.sql());
  EXPECT_TRUE(info.on_s3());
  const std::string all = AllText(info);
  EXPECT_FALSE(Contains(all, "very-secret-s3-key")) << all;
  EXPECT_TRUE(Contains(all, "<s3-secret-key>"));
  EXPECT_TRUE(Contains(RenderSettings(info), "PG2ICEBERG_SINK_S3_SECRET_KEY"));
  const std::string duck = Snippet(info, Engine::kDuckDb);
  EXPECT_TRUE(Contains(duck, "KEY_ID 'AKIAEXAMPLE', SECRET '<s3-secret-key>'"));
  EXPECT_TRUE(Contains(duck, "ENDPOINT 'minio:9000', URL_STYLE 'path', USE_SSL false"));
  EXPECT_TRUE(Contains(duck, "ATTACH '' AS pg2iceberg (TYPE iceberg, ENDPOINT "
                             "'http://catalog:8181', AUTHORIZATION_TYPE 'none'"));
  EXPECT_TRUE(Contains(duck, "SELECT * FROM pg2iceberg.\"default\".orders;"));
  const std::string java = Snippet(info, Engine::kJava);
  EXPECT_TRUE(Contains(java, "new RESTCatalog()"));
  EXPECT_TRUE(Contains(java, "\"io-impl\", \"org.apache.iceberg.aws.s3.S3FileIO\""));
  EXPECT_TRUE(Contains(java, "\"s3.path-style-access\", \"true\""));
  EXPECT_TRUE(Contains(Snippet(info, Engine::kPyIceberg), "\"s3.region\": \"us-east-1\""));
  EXPECT_TRUE(Contains(Snippet(info, Engine::kSpark), "iceberg-aws-bundle"));
  EXPECT_TRUE(Contains(Snippet(info, Engine::kTrino), "s3.aws-secret-key=<s3-secret-key>"));
}

TEST(CatalogInfoTest, RestTokensAndSecretPropsArePlaceholders) {
  CatalogInfo info = InfoOf(kRestS3, {{"PG2ICEBERG_SINK_CATALOG_AUTH", "bearer"},
                                      {"PG2ICEBERG_SINK_CATALOG_TOKEN", "tok-123-secret"}});
  const std::string all = AllText(info);
  EXPECT_FALSE(Contains(all, "tok-123-secret")) << all;
  EXPECT_TRUE(
      Contains(Snippet(info, Engine::kJava), "properties.put(\"token\", \"<token>\");"));
  EXPECT_TRUE(Contains(Snippet(info, Engine::kTrino), "oauth2.token=<token>"));
  EXPECT_TRUE(Contains(Snippet(info, Engine::kDuckDb), "TOKEN '<token>'"));

  CatalogInfo with_props =
      InfoOf("sink:\n"
             "  catalog_uri: http://catalog:8181\n"
             "  catalog_props: {header.X-Api-Key: key-987-secret, header.X-Tenant: blue,\n"
             "                  warehouse: lake}\n"
             "tables: [{name: orders}]\n");
  const std::string text = AllText(with_props);
  EXPECT_FALSE(Contains(text, "key-987-secret")) << text;
  const std::string java = Snippet(with_props, Engine::kJava);
  EXPECT_TRUE(Contains(java, "\"header.X-Api-Key\", \"<catalog_props.header.X-Api-Key>\""));
  EXPECT_TRUE(Contains(java, "\"header.X-Tenant\", \"blue\""));
  EXPECT_TRUE(Contains(java, "\"warehouse\", \"lake\""));
  EXPECT_TRUE(Contains(Snippet(with_props, Engine::kDuckDb), "ATTACH 'lake' AS pg2iceberg"));
}

TEST(CatalogInfoTest, EngineNames) {
  EXPECT_EQ(*ParseEngine("duckdb"), Engine::kDuckDb);
  EXPECT_EQ(*ParseEngine("pyiceberg"), Engine::kPyIceberg);
  EXPECT_EQ(*ParseEngine("java"), Engine::kJava);
  auto bad = ParseEngine("presto");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "duckdb, pyiceberg, spark, trino or java"));
}

}  // namespace
}  // namespace pg2iceberg::cli

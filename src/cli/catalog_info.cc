#include "cli/catalog_info.h"

#include <CLI/CLI.hpp>
#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <memory>
#include <sstream>

#include "catalog/http.h"
#include "cli/backends.h"

namespace pg2iceberg::cli {
namespace {

using Props = std::vector<std::pair<std::string, std::string>>;

constexpr std::array<std::string_view, 5> kEngineNames = {"duckdb", "pyiceberg", "spark",
                                                          "trino", "java"};
constexpr std::string_view kPassword = "<password>";
constexpr std::string_view kToken = "<token>";
constexpr std::string_view kClientSecret = "<client-secret>";
constexpr std::string_view kS3Secret = "<s3-secret-key>";
constexpr std::string_view kMetadataLocation = "<metadata-location>";
constexpr const char* kIcebergSparkRuntime =
    "org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0";
constexpr const char* kIcebergAwsBundle = "org.apache.iceberg:iceberg-aws-bundle:1.10.0";
constexpr const char* kPgJdbc = "org.postgresql:postgresql:42.7.4";
// The end of the Java snippet: every live row, tab-separated.
constexpr const char* kJavaPrintRows =
    "    // The table's columns (a record may carry _pos after them, where position\n"
    "    // deletes applied).\n"
    "    int columns = table.schema().columns().size();\n"
    "    try (CloseableIterable<Record> rows = IcebergGenerics.read(table).build()) {\n"
    "      for (Record row : rows) {\n"
    "        StringBuilder line = new StringBuilder();\n"
    "        for (int i = 0; i < columns; i++) {\n"
    "          line.append(i == 0 ? \"\" : \"\\t\").append(row.get(i));\n"
    "        }\n"
    "        System.out.println(line);\n"
    "      }\n"
    "    }\n"
    "    catalog.close();\n"
    "  }\n"
    "}\n";

// ---------------------------------------------------------------- quoting

std::string SqlString(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

bool IsPlainIdent(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Quotes with `q` (" for SQL, ` for Spark), doubling it inside; `always` for words such as
// `default` that are reserved in some engines.
std::string QuoteIdent(std::string_view s, char q, bool always) {
  if (!always && IsPlainIdent(s)) return std::string(s);
  std::string out(1, q);
  for (char c : s) out += c == q ? std::string(2, q) : std::string(1, c);
  return out + q;
}

// A double-quoted Java or Python string literal.
std::string CString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string ShellWord(std::string_view s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-_./:=,@%+").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(s);
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool IsPlaceholder(std::string_view s) { return s.starts_with('<') && s.ends_with('>'); }

// Placeholders such as <password> are shown as they are.
std::string UrlEncode(std::string_view s) {
  return IsPlaceholder(s) ? std::string(s) : catalog::UrlEncode(s);
}

std::string HostForUrl(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string PropOr(const Props& props, std::string_view key, std::string fallback) {
  for (const auto& [k, v] : props) {
    if (k == key) return v;
  }
  return fallback;
}

// ---------------------------------------------------------------- settings from the config

CatalogDatabase FromSourcePostgres(const config::PostgresConfig& pg) {
  CatalogDatabase db;
  db.host = pg.host;
  db.port = std::to_string(pg.port);
  db.database = pg.database;
  db.user = pg.user;
  db.sslmode = pg.sslmode;
  db.password_set = !pg.password.empty();
  db.password_key =
      "source.postgres.password (environment PG2ICEBERG_SOURCE_POSTGRES_PASSWORD)";
  return db;
}

Result<CatalogDatabase> FromUrl(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &err);
  if (options == nullptr) {
    if (err) PQfreemem(err);
    return InvalidArgument("state.postgres_url: not a valid PostgreSQL URL; expected "
                           "postgres://user:password@host:5432/dbname");
  }
  CatalogDatabase db;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view k = o->keyword;
    if (k == "host" || (k == "hostaddr" && db.host.empty())) db.host = o->val;
    if (k == "port") db.port = o->val;
    if (k == "dbname") db.database = o->val;
    if (k == "user") db.user = o->val;
    if (k == "sslmode") db.sslmode = o->val;
    if (k == "password") db.password_set = true;
  }
  PQconninfoFree(options);
  db.password_key = "state.postgres_url (environment PG2ICEBERG_STATE_POSTGRES_URL)";
  return db;
}

// libpq's defaults, as far as an engine on another host can use them.
void FillDefaults(CatalogDatabase& db) {
  if (db.port.empty()) db.port = "5432";
  if (db.host.empty() || db.host.front() == '/') {
    db.note = "the catalog database is configured through a Unix socket (" +
              (db.host.empty() ? std::string("libpq's default") : db.host) +
              "); engines connect over TCP, so localhost is shown";
    db.host = "localhost";
  }
  if (db.user.empty()) db.user = "<user>";
  if (db.database.empty()) db.database = db.user;
}

RestSettings RestOf(const config::Config::Sink& sink) {
  RestSettings r;
  r.uri = sink.catalog_uri;
  r.auth = sink.catalog_auth;
  r.client_id = sink.catalog_client_id;
  for (const auto& [k, v] : sink.catalog_props) {
    if (k == "warehouse") {
      r.warehouse = v;
    } else {
      r.props.emplace_back(k, config::LooksSecret(k) ? "<catalog_props." + k + ">" : v);
    }
  }
  r.signing_region = PropOr(r.props, "rest.signing-region", sink.s3_region);
  r.signing_name = PropOr(r.props, "rest.signing-name", "execute-api");
  return r;
}

// ---------------------------------------------------------------- engine properties

// Authentication as Iceberg Java, Spark and PyIceberg spell it (they share the names).
void AddRestAuth(const RestSettings& rest, Props& p) {
  switch (rest.auth) {
    case config::CatalogAuth::kNone:
      break;
    case config::CatalogAuth::kBearer:
      p.emplace_back("token", kToken);
      break;
    case config::CatalogAuth::kOAuth2:
      p.emplace_back("credential", rest.client_id + ":" + std::string(kClientSecret));
      break;
    case config::CatalogAuth::kSigV4:
      p.emplace_back("rest.sigv4-enabled", "true");
      p.emplace_back("rest.signing-region", rest.signing_region);
      p.emplace_back("rest.signing-name", rest.signing_name);
      break;
  }
  for (const auto& [k, v] : rest.props) {
    if (k != "rest.signing-region" && k != "rest.signing-name") p.emplace_back(k, v);
  }
}

Props JavaS3Props(const S3Access& s3) {
  Props p = {{"io-impl", "org.apache.iceberg.aws.s3.S3FileIO"}};
  if (!s3.endpoint.empty()) {
    p.emplace_back("s3.endpoint", s3.endpoint);
    p.emplace_back("s3.path-style-access", "true");
  }
  if (s3.mode == config::CredentialMode::kStatic) {
    p.emplace_back("s3.access-key-id", s3.access_key);
    p.emplace_back("s3.secret-access-key", kS3Secret);
  }
  p.emplace_back("client.region", s3.region);
  return p;
}

// Catalog properties for Iceberg Java's JdbcCatalog / RESTCatalog (and Spark's SparkCatalog,
// which hands them on).
Props JavaProps(const CatalogInfo& info) {
  Props p;
  if (info.sql()) {
    p = {{"uri", info.db.JdbcUri()},
         {"jdbc.user", info.db.user},
         {"jdbc.password", std::string(kPassword)},
         {"jdbc.currentSchema", info.catalog_schema},
         {"jdbc.init-catalog-tables", "false"},
         {"warehouse", info.warehouse}};
  } else {
    p = {{"uri", info.rest.uri}};
    if (!info.rest.warehouse.empty()) p.emplace_back("warehouse", info.rest.warehouse);
    AddRestAuth(info.rest, p);
    if (info.s3.mode == config::CredentialMode::kVended) {
      p.emplace_back("header.X-Iceberg-Access-Delegation", "vended-credentials");
    }
  }
  if (info.on_s3()) {
    for (auto& kv : JavaS3Props(info.s3)) p.push_back(std::move(kv));
  }
  return p;
}

Props PyIcebergProps(const CatalogInfo& info) {
  Props p;
  if (info.sql()) {
    p = {{"type", "sql"},
         {"uri", info.SqlAlchemyUri()},
         {"warehouse", info.warehouse},
         {"init_catalog_tables", "false"}};
  } else {
    p = {{"type", "rest"}, {"uri", info.rest.uri}};
    if (!info.rest.warehouse.empty()) p.emplace_back("warehouse", info.rest.warehouse);
    AddRestAuth(info.rest, p);
  }
  if (info.on_s3()) {
    if (!info.s3.endpoint.empty()) p.emplace_back("s3.endpoint", info.s3.endpoint);
    if (info.s3.mode == config::CredentialMode::kStatic) {
      p.emplace_back("s3.access-key-id", info.s3.access_key);
      p.emplace_back("s3.secret-access-key", kS3Secret);
    }
    p.emplace_back("s3.region", info.s3.region);
  }
  return p;
}

void AddTrinoRestAuth(const RestSettings& rest, Props& p) {
  const std::string k = "iceberg.rest-catalog.";
  if (rest.auth == config::CatalogAuth::kBearer) {
    p.emplace_back(k + "security", "OAUTH2");
    p.emplace_back(k + "oauth2.token", kToken);
  } else if (rest.auth == config::CatalogAuth::kOAuth2) {
    p.emplace_back(k + "security", "OAUTH2");
    p.emplace_back(k + "oauth2.credential", rest.client_id + ":" + std::string(kClientSecret));
    const std::string server = PropOr(rest.props, "oauth2-server-uri", "");
    if (!server.empty()) p.emplace_back(k + "oauth2.server-uri", server);
  } else if (rest.auth == config::CatalogAuth::kSigV4) {
    p.emplace_back(k + "security", "SIGV4");
    p.emplace_back(k + "signing-name", rest.signing_name);
  }
}

Props TrinoProps(const CatalogInfo& info) {
  Props p = {{"connector.name", "iceberg"}};
  if (info.sql()) {
    const std::string url = info.db.JdbcUri();
    const char sep = url.find('?') == std::string::npos ? '?' : '&';
    p.insert(p.end(),
             {{"iceberg.catalog.type", "jdbc"},
              {"iceberg.jdbc-catalog.catalog-name", info.catalog_name},
              {"iceberg.jdbc-catalog.driver-class", "org.postgresql.Driver"},
              {"iceberg.jdbc-catalog.connection-url",
               url + sep + "currentSchema=" + UrlEncode(info.catalog_schema)},
              {"iceberg.jdbc-catalog.connection-user", info.db.user},
              {"iceberg.jdbc-catalog.connection-password", std::string(kPassword)},
              {"iceberg.jdbc-catalog.default-warehouse-dir", info.warehouse}});
  } else {
    p.emplace_back("iceberg.catalog.type", "rest");
    p.emplace_back("iceberg.rest-catalog.uri", info.rest.uri);
    if (!info.rest.warehouse.empty()) {
      p.emplace_back("iceberg.rest-catalog.warehouse", info.rest.warehouse);
    }
    AddTrinoRestAuth(info.rest, p);
    if (info.s3.mode == config::CredentialMode::kVended) {
      p.emplace_back("iceberg.rest-catalog.vended-credentials-enabled", "true");
    }
  }
  if (!info.on_s3()) {
    p.emplace_back("fs.hadoop.enabled", "true");  // file:// locations
    return p;
  }
  p.emplace_back("fs.native-s3.enabled", "true");
  if (!info.s3.endpoint.empty()) {
    p.emplace_back("s3.endpoint", info.s3.endpoint);
    p.emplace_back("s3.path-style-access", "true");
  }
  p.emplace_back("s3.region", info.s3.region);
  if (info.s3.mode == config::CredentialMode::kStatic) {
    p.emplace_back("s3.aws-access-key", info.s3.access_key);
    p.emplace_back("s3.aws-secret-key", kS3Secret);
  }
  return p;
}

// ---------------------------------------------------------------- snippets

const IcebergTable* FindTable(const CatalogInfo& info, std::string_view wanted) {
  for (const IcebergTable& t : info.tables) {
    if (wanted.empty() || wanted == t.source || wanted == t.Ident() || wanted == t.name) {
      return &t;
    }
  }
  return nullptr;
}

// `name`.`ns`.`table` for Spark, "ns" quoted always (DEFAULT is reserved in some engines).
std::string QualifiedName(const CatalogInfo& info, const IcebergTable& t, char q) {
  return QuoteIdent(info.catalog_name, q, false) + "." + QuoteIdent(t.ns, q, true) + "." +
         QuoteIdent(t.name, q, false);
}

std::string DuckDbS3Secret(const S3Access& s3) {
  std::string s = "CREATE SECRET (TYPE s3";
  if (s3.mode == config::CredentialMode::kStatic) {
    s += ", KEY_ID " + SqlString(s3.access_key) + ", SECRET " + SqlString(kS3Secret);
  } else if (s3.mode == config::CredentialMode::kIam) {
    s += ", PROVIDER credential_chain";
  }
  s += ", REGION " + SqlString(s3.region);
  if (!s3.endpoint.empty()) {
    // DuckDB takes host:port and the scheme as USE_SSL.
    const size_t scheme = s3.endpoint.find("://");
    std::string host =
        scheme == std::string::npos ? s3.endpoint : s3.endpoint.substr(scheme + 3);
    while (!host.empty() && host.back() == '/') host.pop_back();
    s += ", ENDPOINT " + SqlString(host) + ", URL_STYLE 'path', USE_SSL " +
         (s3.endpoint.starts_with("https://") ? "true" : "false");
  }
  return s + ");\n";
}

std::string DuckDbAttach(const CatalogInfo& info) {
  const RestSettings& r = info.rest;
  std::string out;
  std::string auth;
  switch (r.auth) {
    case config::CatalogAuth::kNone:
      auth = ", AUTHORIZATION_TYPE 'none'";
      break;
    case config::CatalogAuth::kBearer:
      out += "CREATE SECRET pg2iceberg_catalog (TYPE iceberg, TOKEN " + SqlString(kToken) +
             ");\n";
      auth = ", SECRET pg2iceberg_catalog";
      break;
    case config::CatalogAuth::kOAuth2:
      auth = ", CLIENT_ID " + SqlString(r.client_id) + ", CLIENT_SECRET " +
             SqlString(kClientSecret) + ", OAUTH2_SERVER_URI " +
             SqlString(PropOr(r.props, "oauth2-server-uri", r.uri + "/v1/oauth/tokens"));
      break;
    case config::CatalogAuth::kSigV4:
      auth = ", AUTHORIZATION_TYPE 'sigv4'";
      break;
  }
  if (info.s3.mode != config::CredentialMode::kVended) {
    auth += ", ACCESS_DELEGATION_MODE 'none'";
  }
  return out + "ATTACH " + SqlString(r.warehouse) + " AS " +
         QuoteIdent(info.catalog_name, '"', false) + " (TYPE iceberg, ENDPOINT " +
         SqlString(r.uri) + auth + ");\n";
}

std::string DuckDbSnippet(const CatalogInfo& info, const IcebergTable& t) {
  std::string out = "INSTALL iceberg;\nLOAD iceberg;\n";
  if (info.on_s3() || !info.sql()) out += "INSTALL httpfs;\nLOAD httpfs;\n";
  if (info.on_s3() && info.s3.mode != config::CredentialMode::kVended) {
    out += DuckDbS3Secret(info.s3);
  }
  if (!info.sql()) {
    return out + DuckDbAttach(info) + "SELECT * FROM " + QualifiedName(info, t, '"') + ";\n";
  }
  const std::string location =
      t.metadata_location.empty() ? std::string(kMetadataLocation) : t.metadata_location;
  return out + "-- " + t.Ident() +
         " at its current snapshot; the metadata location changes with every commit\n"
         "-- (pg2iceberg catalog-info --engine duckdb prints the newest)\n"
         "SELECT * FROM iceberg_scan(" +
         SqlString(location) + ");\n";
}

std::string PyIcebergSnippet(const CatalogInfo& info, const IcebergTable& t) {
  std::string out =
      "# PyIceberg applies the position deletes pg2iceberg writes by default; it refuses\n"
      "# tables written with sink.delete_mode: equality (docs/querying.md).\n"
      "from pyiceberg.catalog import load_catalog\n\ncatalog = load_catalog(\n    " +
      CString(info.catalog_name) + ",\n    **{\n";
  for (const auto& [k, v] : PyIcebergProps(info)) {
    out += "        " + CString(k) + ": " + CString(v) + ",\n";
  }
  return out + "    },\n)\ntable = catalog.load_table(" + CString(t.Ident()) +
         ")\nprint(table.scan().to_arrow())\n";
}

std::string SparkSnippet(const CatalogInfo& info, const IcebergTable& t) {
  std::string packages = kIcebergSparkRuntime;
  if (info.sql()) packages += std::string(",") + kPgJdbc;
  if (info.on_s3()) packages += std::string(",") + kIcebergAwsBundle;
  const std::string prefix = "spark.sql.catalog." + info.catalog_name;
  std::string out = "spark-sql \\\n  --packages " + packages + " \\\n";
  auto conf = [&](const std::string& k, std::string_view v) {
    out += "  --conf " + ShellWord(k + "=" + std::string(v)) + " \\\n";
  };
  conf(prefix, "org.apache.iceberg.spark.SparkCatalog");
  conf(prefix + ".type", info.sql() ? "jdbc" : "rest");
  for (const auto& [k, v] : JavaProps(info)) conf(prefix + "." + k, v);
  return out + "  -e " + ShellWord("SELECT * FROM " + QualifiedName(info, t, '`')) + "\n";
}

std::string TrinoSnippet(const CatalogInfo& info, const IcebergTable& t) {
  std::string out = "# etc/catalog/" + info.catalog_name +
                    ".properties (Trino's Iceberg connector), then in Trino:\n"
                    "#   SELECT * FROM " +
                    QualifiedName(info, t, '"') + ";\n";
  for (const auto& [k, v] : TrinoProps(info)) out += k + "=" + v + "\n";
  return out;
}

std::string JavaSnippet(const CatalogInfo& info, const IcebergTable& t) {
  const bool sql = info.sql();
  std::string out =
      "// QueryTable.java: java -cp \"<Iceberg Java class path>/*\" QueryTable.java (JDK 17+)\n"
      "import java.util.HashMap;\n"
      "import java.util.Map;\n"
      "import org.apache.hadoop.conf.Configuration;\n"
      "import org.apache.iceberg.Table;\n"
      "import org.apache.iceberg.catalog.TableIdentifier;\n"
      "import org.apache.iceberg.data.IcebergGenerics;\n"
      "import org.apache.iceberg.data.Record;\n"
      "import org.apache.iceberg.io.CloseableIterable;\n" +
      std::string(sql ? "import org.apache.iceberg.jdbc.JdbcCatalog;\n"
                      : "import org.apache.iceberg.rest.RESTCatalog;\n") +
      "\npublic class QueryTable {\n"
      "  public static void main(String[] args) throws Exception {\n"
      "    Map<String, String> properties = new HashMap<>();\n";
  for (const auto& [k, v] : JavaProps(info)) {
    out += "    properties.put(" + CString(k) + ", " + CString(v) + ");\n";
  }
  out += std::string("    ") + (sql ? "JdbcCatalog catalog = new JdbcCatalog();\n"
                                    : "RESTCatalog catalog = new RESTCatalog();\n");
  return out + "    catalog.setConf(new Configuration());\n    catalog.initialize(" +
         CString(info.catalog_name) + ", properties);\n" +
         "    Table table = catalog.loadTable(TableIdentifier.of(" + CString(t.ns) + ", " +
         CString(t.name) + "));\n" + kJavaPrintRows;
}

// ---------------------------------------------------------------- settings text

void Line(std::string& out, std::string_view key, std::string_view value) {
  std::string k = std::string(key) + ":";
  k.resize(std::max<size_t>(k.size() + 1, 19), ' ');
  out += k + std::string(value) + "\n";
}

std::string PasswordText(const CatalogDatabase& db) {
  if (!db.password_set) {
    return std::string(kPassword) +
           " (none configured: trust, ~/.pgpass or PGPASSWORD; drop it from the URIs)";
  }
  return std::string(kPassword) + " (not shown; it is in " + db.password_key + ")";
}

void SqlSettings(const CatalogInfo& info, std::string& out) {
  Line(out, "catalog", "sql (Iceberg's JDBC catalog tables in PostgreSQL)");
  Line(out, "uri", info.db.JdbcUri());
  Line(out, "user", info.db.user);
  Line(out, "password", PasswordText(info.db));
  Line(out, "catalog schema",
       info.catalog_schema + " (JDBC: jdbc.currentSchema=" + info.catalog_schema +
           "; SQLAlchemy: ?options=-csearch_path%3D" + UrlEncode(info.catalog_schema) + ")");
  Line(out, "sqlalchemy uri", info.SqlAlchemyUri());
  Line(out, "catalog name", info.catalog_name);
  if (!info.db.note.empty()) Line(out, "note", info.db.note);
}

std::string AuthText(const RestSettings& r) {
  switch (r.auth) {
    case config::CatalogAuth::kNone:
      return "none";
    case config::CatalogAuth::kBearer:
      return "bearer, token " + std::string(kToken) +
             " (not shown; it is in sink.catalog_token, environment "
             "PG2ICEBERG_SINK_CATALOG_TOKEN)";
    case config::CatalogAuth::kOAuth2:
      return "oauth2, client id " + r.client_id + ", secret " + std::string(kClientSecret) +
             " (not shown; it is in sink.catalog_client_secret, environment "
             "PG2ICEBERG_SINK_CATALOG_CLIENT_SECRET)";
    case config::CatalogAuth::kSigV4:
      return "sigv4, region " + r.signing_region + ", service " + r.signing_name;
  }
  return "";
}

void RestSettingsText(const CatalogInfo& info, std::string& out) {
  Line(out, "catalog", "rest (Iceberg REST catalog)");
  Line(out, "uri", info.rest.uri);
  Line(out, "auth", AuthText(info.rest));
  if (!info.rest.warehouse.empty()) Line(out, "catalog warehouse", info.rest.warehouse);
  Line(out, "catalog name", info.catalog_name + " (client-side; any name works)");
}

std::string S3CredentialsText(const S3Access& s3) {
  switch (s3.mode) {
    case config::CredentialMode::kStatic:
      return "access key " + s3.access_key + ", secret " + std::string(kS3Secret) +
             (s3.secret_set ? " (not shown; it is in sink.s3_secret_key, environment "
                              "PG2ICEBERG_SINK_S3_SECRET_KEY)"
                            : " (sink.s3_secret_key is not set)");
    case config::CredentialMode::kIam:
      return "the engine's default AWS credential chain (credential_mode iam)";
    case config::CredentialMode::kVended:
      return "vended by the catalog with each table (credential_mode vended)";
  }
  return "";
}

void StorageSettings(const CatalogInfo& info, std::string& out) {
  Line(out, "warehouse", info.warehouse);
  Line(out, "namespace", info.ns);
  if (!info.on_s3()) return;
  Line(out, "s3 endpoint",
       info.s3.endpoint.empty() ? "AWS" : info.s3.endpoint + " (path-style addressing)");
  Line(out, "s3 region", info.s3.region);
  Line(out, "s3 credentials", S3CredentialsText(info.s3));
}

// ---------------------------------------------------------------- the catalog look-up

// The same catalog `run` opens, without its retries: this is an interactive look-up.
Result<std::unique_ptr<catalog::Catalog>> OpenCatalogOnce(const config::Config& cfg) {
  PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
  return OpenCatalog(cfg, std::move(io), Patience{.pg_attempts = 1, .rest_attempts = 2});
}

// Fills each table's metadata location, or its note saying why there is none.
void ReadMetadataLocations(const config::Config& cfg, CatalogInfo& info) {
  auto cat = OpenCatalogOnce(cfg);
  for (IcebergTable& t : info.tables) {
    if (!cat.ok()) {
      t.note = "could not be read: " + cat.status().message();
      continue;
    }
    auto loaded = (*cat)->LoadTable(catalog::TableIdent{{t.ns}, t.name});
    if (loaded.ok()) {
      t.metadata_location = loaded->metadata_location;
    } else if (loaded.status().code() == StatusCode::kNotFound) {
      t.note = "does not exist yet (the first pg2iceberg run or snapshot creates the table)";
    } else {
      t.note = "could not be read: " + loaded.status().message();
    }
  }
}

int Fail(int code, const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return code;
}

}  // namespace

// ---------------------------------------------------------------- public

Result<Engine> ParseEngine(std::string_view name) {
  for (size_t i = 0; i < kEngineNames.size(); ++i) {
    if (name == kEngineNames[i]) return static_cast<Engine>(i);
  }
  return InvalidArgument("--engine " + std::string(name) +
                         ": unknown engine; use duckdb, pyiceberg, spark, trino or java");
}

std::string CatalogDatabase::JdbcUri() const {
  std::string uri =
      "jdbc:postgresql://" + HostForUrl(host) + ":" + port + "/" + UrlEncode(database);
  if (!sslmode.empty() && sslmode != "disable") uri += "?sslmode=" + sslmode;
  return uri;
}

bool CatalogInfo::on_s3() const {
  return warehouse.starts_with("s3://") || warehouse.starts_with("s3a://") ||
         warehouse.starts_with("s3n://");
}

std::string CatalogInfo::SqlAlchemyUri() const {
  std::string uri = "postgresql+psycopg2://" + UrlEncode(db.user) + ":" +
                    std::string(kPassword) + "@" + HostForUrl(db.host) + ":" + db.port + "/" +
                    UrlEncode(db.database) + "?options=" +
                    UrlEncode("-csearch_path=" + catalog_schema);
  if (!db.sslmode.empty() && db.sslmode != "disable") uri += "&sslmode=" + db.sslmode;
  return uri;
}

Result<CatalogInfo> CatalogInfoOf(const config::Config& cfg) {
  CatalogInfo info;
  info.type = cfg.sink.catalog_type;
  info.catalog_name = cfg.sink.catalog_name;
  info.catalog_schema = cfg.sink.catalog_schema;
  info.warehouse = cfg.sink.warehouse;
  info.ns = cfg.sink.ns;
  if (info.sql()) {
    if (cfg.state.postgres_url.empty()) {
      info.db = FromSourcePostgres(cfg.source.postgres);
    } else {
      PG2I_ASSIGN_OR_RETURN(info.db, FromUrl(cfg.state.postgres_url));
    }
    FillDefaults(info.db);
  } else {
    info.rest = RestOf(cfg.sink);
  }
  info.s3 = S3Access{cfg.sink.s3_endpoint, cfg.sink.s3_region, cfg.sink.s3_access_key,
                     !cfg.sink.s3_secret_key.empty(), cfg.sink.credential_mode};
  for (const config::TableConfig& t : cfg.tables) {
    const config::IcebergTableName target = config::IcebergNameOf(t, cfg.sink.ns);
    info.tables.push_back(IcebergTable{t.name.ToString(), target.ns, target.name, "", ""});
  }
  return info;
}

std::string RenderSettings(const CatalogInfo& info) {
  std::string out;
  if (info.sql()) {
    SqlSettings(info, out);
  } else {
    RestSettingsText(info, out);
  }
  StorageSettings(info, out);
  for (const IcebergTable& t : info.tables) {
    Line(out, "table", t.source + " -> " + t.Ident());
    Line(out, "  metadata",
         t.metadata_location.empty() ? "(" + t.note + ")" : t.metadata_location);
  }
  Line(out, "snippets",
       "pg2iceberg catalog-info --engine duckdb|pyiceberg|spark|trino|java [--table NAME]");
  return out;
}

Result<std::string> RenderSnippet(const CatalogInfo& info, Engine engine,
                                  std::string_view table) {
  const IcebergTable* t = FindTable(info, table);
  if (t == nullptr) {
    std::string names;
    for (const IcebergTable& c : info.tables) names += (names.empty() ? "" : ", ") + c.source;
    return InvalidArgument("--table " + std::string(table) + ": not a configured table" +
                           (names.empty() ? std::string(" (none configured)")
                                          : "; configured: " + names));
  }
  switch (engine) {
    case Engine::kDuckDb:
      return DuckDbSnippet(info, *t);
    case Engine::kPyIceberg:
      return PyIcebergSnippet(info, *t);
    case Engine::kSpark:
      return SparkSnippet(info, *t);
    case Engine::kTrino:
      return TrinoSnippet(info, *t);
    case Engine::kJava:
      return JavaSnippet(info, *t);
  }
  return Internal("unknown engine");
}

CLI::App* AddCatalogInfoCommand(CLI::App& app, CatalogInfoArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "catalog-info",
      "print how query engines open the Iceberg tables (catalog, URI, warehouse, metadata "
      "locations), or with --engine a ready-to-paste snippet; see docs/querying.md");
  const std::vector<std::string> engines(kEngineNames.begin(), kEngineNames.end());
  cmd->add_option("--engine", args.engine, "print a ready-to-paste snippet for this engine")
      ->check(CLI::IsMember(engines));
  cmd->add_option("--table", args.table,
                  "the table of the snippet (default: the first configured table)");
  return cmd;
}

int RunCatalogInfo(const config::Config& cfg, const CatalogInfoArgs& args) {
  auto info = CatalogInfoOf(cfg);
  if (!info.ok()) return Fail(2, info.status());
  if (args.engine.empty()) {
    ReadMetadataLocations(cfg, *info);
    std::fputs(RenderSettings(*info).c_str(), stdout);
    return 0;
  }
  auto engine = ParseEngine(args.engine);
  if (!engine.ok()) return Fail(2, engine.status());
  // Only DuckDB on the SQL catalog names a metadata file; the others ask the catalog.
  const bool needs_location = *engine == Engine::kDuckDb && info->sql();
  if (needs_location) ReadMetadataLocations(cfg, *info);
  auto snippet = RenderSnippet(*info, *engine, args.table);
  if (!snippet.ok()) return Fail(2, snippet.status());
  std::fputs(snippet->c_str(), stdout);
  const IcebergTable* t = FindTable(*info, args.table);
  if (needs_location && t->metadata_location.empty()) {
    std::fprintf(stderr, "note: the metadata location of %s %s; replace %s\n",
                 t->Ident().c_str(), t->note.c_str(), std::string(kMetadataLocation).c_str());
  }
  return 0;
}

}  // namespace pg2iceberg::cli

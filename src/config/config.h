// Typed configuration of pg2iceberg, loaded from upstream-compatible YAML, the environment
// and command-line overrides (precedence: defaults < YAML < environment < flags).
//
// Load() never throws and never prints: unknown keys come back as warnings (upstream configs
// carry keys for features that may not exist here), invalid values as one InvalidArgument
// status naming every bad key with its allowed values. Secret values (passwords, secret keys,
// tokens, the password inside a URL) never appear in a Status message or in Redacted().
// Config is a plain value; copy it freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace pg2iceberg::config {

using Duration = std::chrono::nanoseconds;

// Parses Go-style durations ("1h30m", "500ms", "1.5h", "7d"; units ns, us, µs, ms, s, m, h,
// d). "0" is zero. Negative values are rejected.
Result<Duration> ParseDuration(std::string_view text);
std::string FormatDuration(Duration d);
// Parses byte sizes: "1048576", "64MiB", "64 MB", "1gib". KB/MB/GB are powers of 1000,
// KiB/MiB/GiB powers of 1024.
Result<int64_t> ParseBytes(std::string_view text);

// A qualified PostgreSQL table name. Parts are exact (no case folding).
struct TableName {
  std::string schema;
  std::string table;

  // "public.orders", "orders" (schema public), "\"My Schema\".\"a.b\"".
  static Result<TableName> Parse(std::string_view text);
  // Quoted for SQL: "public"."orders".
  std::string Quoted() const;
  // Human form used in messages and as the Iceberg table name: public.orders
  std::string ToString() const;
  auto operator<=>(const TableName&) const = default;
};

enum class PartitionTransform { kIdentity, kYear, kMonth, kDay, kHour, kBucket, kTruncate };

struct PartitionField {
  PartitionTransform transform = PartitionTransform::kIdentity;
  std::string column;
  int32_t param = 0;  // N of bucket[N], W of truncate[W]

  // "day(created_at)", "bucket[16](id)", "truncate[4](name)", "region".
  static Result<PartitionField> Parse(std::string_view text);
  std::string ToString() const;
  bool operator==(const PartitionField&) const = default;
};

struct ColumnSpec {
  std::string name;
  std::string pg_type;
  bool nullable = true;
};

enum class DeleteMode : int;

// tables[].iceberg.mode: what a table becomes in Iceberg. kMirror: a table of the source's
// rows (the default); kHistory: an append-only table of its changes, <name>_history
// (materialize/history.h); kBoth: the two.
enum class TableMode { kMirror, kHistory, kBoth };
const char* TableModeName(TableMode m);

struct TableConfig {
  TableName name;
  std::vector<std::string> primary_key;  // empty: discovered
  std::vector<ColumnSpec> columns;       // empty: discovered
  bool skip_snapshot = false;
  std::string watermark_column;
  // Query mode, per table (unset: the source.query defaults). initial_offset: the watermark
  // (text, as PostgreSQL prints it) to start after instead of copying the table; custom_query:
  // a SELECT run instead of the generated one ($1 the last watermark read, NULL before the
  // first; $2 the page size), see docs/query-mode.md.
  std::string initial_offset;
  std::optional<int> batch_size;
  std::optional<Duration> poll_interval;
  std::optional<Duration> lookback;
  std::string custom_query;
  std::vector<PartitionField> partition;
  // tables[].iceberg.namespace / .name: where the table goes in Iceberg (empty: the default,
  // sink.namespace and the PostgreSQL table name; see IcebergNameOf).
  std::string iceberg_namespace;
  std::string iceberg_name;
  // tables[].iceberg.delete_mode: this table's, instead of sink.delete_mode.
  std::optional<DeleteMode> delete_mode;
  // tables[].iceberg.column_names: Iceberg column names as PostgreSQL has them, or snake_case.
  bool snake_case_columns = false;
  // tables[].iceberg.mode.
  TableMode mode = TableMode::kMirror;
  bool keeps_history() const { return mode != TableMode::kMirror; }
  bool keeps_mirror() const { return mode != TableMode::kHistory; }
  // tables[].capture_operations: which changes are replicated ("insert", "update", "delete",
  // "truncate"); empty: all of them.
  std::vector<std::string> capture_operations;
};

// The Iceberg name of PostgreSQL column `pg_name` of `table` (tables[].iceberg.column_names).
std::string IcebergColumnName(const TableConfig& table, const std::string& pg_name);
// snake_case of a name: "CustomerID" → "customer_id", "HTTPServer" → "http_server",
// "Order Total" → "order_total".
std::string SnakeCase(const std::string& name);
// InvalidArgument when two of `pg_names` (the table's columns) map to one Iceberg name.
Status CheckColumnNames(const TableConfig& table, const std::vector<std::string>& pg_names);

// The Iceberg table a configured table is written to: tables[].iceberg.namespace (default
// `default_ns`, i.e. sink.namespace) and tables[].iceberg.name (default the PostgreSQL table
// name without its schema). Two configured tables may not map to the same one.
struct IcebergTableName {
  std::string ns;
  std::string name;
  std::string ToString() const { return ns + "." + name; }
  bool operator==(const IcebergTableName&) const = default;
};
IcebergTableName IcebergNameOf(const TableConfig& table, const std::string& default_ns);
// The history table of `table` (tables[].iceberg.mode history or both): IcebergNameOf's name
// with "_history" appended, in the same namespace.
IcebergTableName IcebergHistoryNameOf(const TableConfig& table, const std::string& default_ns);
// sink.table_name with {schema} and {table} replaced by those of `table`.
std::string ExpandTableName(const std::string& pattern, const TableName& table);

// Whether a free-form key (sink.catalog_props) names a secret whose value must not be shown.
bool LooksSecret(std::string_view key);

enum class SourceMode { kLogical, kQuery };
enum class CatalogType { kSql, kRest };
enum class CatalogAuth { kNone, kBearer, kOAuth2, kSigV4 };
enum class CredentialMode { kStatic, kIam, kVended };
enum class DeleteMode : int { kEquality, kPosition, kDv };
// "equality", "position" or "dv"; and back (nullopt for another word).
const char* DeleteModeName(DeleteMode m);
std::optional<DeleteMode> ParseDeleteMode(std::string_view s);

struct PostgresConfig {
  std::string host;
  int port = 5432;
  std::string database;
  std::string user;
  std::string password;
  std::string sslmode = "disable";
  std::string sslrootcert;

  // libpq keyword/value connection string; values quoted as libpq requires.
  std::string ConnString() const;
  // The same with the password replaced by "********" (for messages).
  std::string RedactedConnString() const;
};

struct Config {
  std::vector<TableConfig> tables;

  struct Source {
    SourceMode mode = SourceMode::kLogical;
    PostgresConfig postgres;
    struct Logical {
      std::string publication_name = "pg2iceberg_pub";
      std::string slot_name = "pg2iceberg_slot";
      std::optional<TableName> markers_table;  // source.logical.markers_table
      Duration standby_interval = std::chrono::seconds(10);
      int snapshot_concurrency = 2;
      int snapshot_chunk_pages = 2048;
    } logical;
    struct Query {
      Duration poll_interval = std::chrono::seconds(30);
      int batch_size = 10'000;
      // Rows committed late with an older watermark (a long transaction) still arrive when they
      // commit within this long of their watermark: see docs/query-mode.md. 0: no re-reads.
      Duration lookback = std::chrono::minutes(5);
      int max_connections = 2;
    } query;
  } source;

  struct Sink {
    CatalogType catalog_type = CatalogType::kSql;
    std::string catalog_name = "pg2iceberg";
    std::string catalog_schema = "iceberg";
    std::string catalog_uri;
    CatalogAuth catalog_auth = CatalogAuth::kNone;
    std::string catalog_token;
    std::string catalog_client_id;
    std::string catalog_client_secret;
    std::map<std::string, std::string> catalog_props;
    CredentialMode credential_mode = CredentialMode::kStatic;
    std::string warehouse;  // always set after Load (file://<cwd>/warehouse by default)
    std::string ns = "default";  // YAML key `namespace`
    // The Iceberg name of a table without tables[].iceberg.name: "{table}", "{schema}_{table}".
    std::string table_name = "{table}";
    // AWS S3 Tables (a table bucket ARN) or Glue (a catalog id): the REST endpoint of the region
    // with SigV4 (Load fills catalog_uri, catalog_auth and catalog_props from it).
    std::string s3_tables_arn;
    std::string glue_catalog_id;
    std::string s3_endpoint;
    std::string s3_access_key;
    std::string s3_secret_key;
    std::string s3_region = "us-east-1";
    Duration flush_interval = std::chrono::seconds(10);
    int64_t flush_rows = 1000;
    int64_t flush_bytes = int64_t{64} << 20;
    Duration materializer_interval = std::chrono::seconds(10);
    int materializer_concurrency = 0;  // 0: one lane per core, at most 4 (MaterializerLanes)
    int compaction_data_files = 8;
    int compaction_delete_files = 4;
    int64_t target_file_size = int64_t{128} << 20;
    std::optional<Duration> compaction_interval = std::chrono::minutes(1);  // nullopt: off
    DeleteMode delete_mode = DeleteMode::kPosition;
    std::optional<Duration> maintenance_retention = std::chrono::hours(168);  // nullopt: off
    std::optional<Duration> maintenance_grace = std::chrono::minutes(30);     // nullopt: off
    std::string materialized_prefix = "materialized/";
    std::string meta_namespace;
    std::string index_dir = "pg2iceberg-index";  // the primary-key indexes (position mode)
    bool include_metadata = false;  // _commit_ts and _lsn on every mirror row
  } sink;

  struct State {
    std::string postgres_url;  // empty: the source database
    std::string coordinator_schema = "_pg2iceberg";
    std::string group = "default";
  } state;

  // Commit notifications (docs/notifications.md); both sinks empty: none.
  struct Notifications {
    std::string webhook_url;
    Duration webhook_timeout = std::chrono::seconds(10);
    std::string channel;  // NOTIFY on the coordinator database
    Duration poll_interval = std::chrono::seconds(10);
    bool enabled() const { return !webhook_url.empty() || !channel.empty(); }
  } notifications;

  std::string metrics_addr = "127.0.0.1:9090";  // empty: disabled
  int64_t memory_limit = int64_t{512} << 20;     // what the buffers are sized from
  std::optional<Duration> max_outage;            // nullopt: retry transient faults forever
  bool snapshot_only = false;
  // No tables were configured: they are the publication's (cli::WithPublishedTables), which
  // `cleanup` therefore keeps.
  bool tables_from_publication = false;

  // Non-fatal findings of Load(): unknown keys, values taken from defaults that deserve a
  // mention. Each names the key.
  std::vector<std::string> warnings;

  // Effective configuration as YAML with every secret replaced by "********".
  std::string Redacted() const;
};

// Where the environment comes from; tests pass a map instead of the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnv();

// The variables of `env` that set some configuration (PG2ICEBERG_<PATH>, PG2ICEBERG_TABLES
// and upstream's names such as POSTGRES_URL or TABLES), sorted; empty when the environment
// configures nothing. Names only: values may be secrets.
std::vector<std::string> EnvironmentVariablesInUse(const EnvLookup& env);

struct LoadOptions {
  // YAML text; empty means "no file" (defaults and environment only).
  std::string yaml;
  // Shown in messages, e.g. "config.yaml".
  std::string source_name = "config";
  EnvLookup env;
  // Highest precedence: path → value, e.g. {"sink.maintenance_retention", "24h"}.
  std::map<std::string, std::string> overrides;
  // Used for the default warehouse; empty means the process's current directory.
  std::string working_directory;
};

Result<Config> Load(const LoadOptions& options);

// Reads `path` and calls Load. A missing file is InvalidArgument with a hint.
Result<Config> LoadFile(const std::string& path, EnvLookup env,
                        std::map<std::string, std::string> overrides = {});

// What the command line loads when no file was named: `default_path` (config.yaml in the
// working directory) if it exists, otherwise the environment alone, and `*file_read` says
// which. InvalidArgument when the file is missing and the environment sets nothing: running
// on defaults would only retry a local socket that is not the operator's database.
Result<Config> LoadDefaultFile(const std::string& default_path, EnvLookup env, bool* file_read);

}  // namespace pg2iceberg::config

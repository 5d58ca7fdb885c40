#include "config/options.h"

#include <array>
#include <cctype>

namespace pg2iceberg::config {
namespace {

using K = OptionKind;

// Sorted by section as they appear in the reference. Defaults are the YAML text.
constexpr std::array kOptions = {
    OptionSpec{"source.mode", K::kEnum, "logical",
               "How changes are read: `logical` (pgoutput logical replication) or `query` "
               "(watermark polling; no hard deletes, no transaction boundaries).",
               "logical|query"},
    OptionSpec{"source.postgres.host", K::kString, "",
               "Source PostgreSQL host. Empty uses libpq's default (the local Unix socket)."},
    OptionSpec{"source.postgres.port", K::kInt, "5432", "Source PostgreSQL port.", {}, 1, 65535},
    OptionSpec{"source.postgres.database", K::kString, "",
               "Database holding the replicated tables. Empty uses libpq's default (the user "
               "name)."},
    OptionSpec{"source.postgres.user", K::kString, "",
               "Role to connect as; needs REPLICATION (logical mode) and SELECT on the tables."},
    OptionSpec{"source.postgres.password", K::kSecret, "",
               "Password of the role. Prefer PG2ICEBERG_SOURCE_POSTGRES_PASSWORD or a "
               "~/.pgpass file to keeping it in the YAML."},
    OptionSpec{"source.postgres.sslmode", K::kEnum, "disable",
               "libpq SSL mode.", "disable|allow|prefer|require|verify-ca|verify-full"},
    OptionSpec{"source.postgres.sslrootcert", K::kString, "",
               "CA certificate file for `verify-ca` / `verify-full`.", {}, 0, 0, true},
    OptionSpec{"source.logical.publication_name", K::kString, "pg2iceberg_pub",
               "Publication that carries the configured tables; created if missing."},
    OptionSpec{"source.logical.slot_name", K::kString, "pg2iceberg_slot",
               "Logical replication slot owned by the WAL writer; created if missing."},
    OptionSpec{"source.logical.markers_table", K::kString, "",
               "Source table whose inserted rows are markers (`id text`; created with the "
               "publication if missing): each is recorded per table with the Iceberg snapshot "
               "holding exactly what was committed before it, in the meta table `markers` "
               "(needs sink.meta_namespace; docs/operations.md). Empty: no markers."},
    OptionSpec{"source.logical.standby_interval", K::kDuration, "10s",
               "Cadence of standby status updates (the slot's confirmed LSN).", {}, 1},
    OptionSpec{"source.logical.snapshot_concurrency", K::kInt, "2",
               "Tables or CTID chunks copied in parallel by the initial snapshot.", {}, 1, 64},
    OptionSpec{"source.logical.snapshot_chunk_pages", K::kInt, "2048",
               "Heap pages per snapshot chunk (CTID range).", {}, 1, 1 << 30},
    OptionSpec{"source.query.poll_interval", K::kDuration, "30s",
               "Query mode: cadence of the watermark poll (a table that filled a whole page is "
               "polled again at once).", {}, 1},
    OptionSpec{"source.query.batch_size", K::kInt, "10000",
               "Query mode: rows per page of a poll.", {}, 1, 1000000},
    OptionSpec{"source.query.lookback", K::kDuration, "5m",
               "Query mode: a row committed this long after its watermark value (a long "
               "transaction) still arrives; every `lookback` the rows of the last two are read "
               "again (docs/query-mode.md). 0: never."},
    OptionSpec{"source.query.max_connections", K::kInt, "2",
               "Query mode: connections polling tables at once.", {}, 1, 64},

    OptionSpec{"sink.catalog_type", K::kEnum, "",
               "`sql`: Iceberg JDBC-schema catalog inside the coordinator PostgreSQL (the "
               "embedded default). `rest`: an Iceberg REST catalog at `sink.catalog_uri`. "
               "Default: `sql` when `catalog_uri` is empty, else `rest`.",
               "sql|rest", 0, 0, true},
    OptionSpec{"sink.catalog_name", K::kString, "pg2iceberg",
               "Catalog name (the `catalog_name` column of the SQL catalog).", {}, 0, 0, true},
    OptionSpec{"sink.catalog_schema", K::kString, "iceberg",
               "PostgreSQL schema holding the SQL catalog's `iceberg_tables` and "
               "`iceberg_namespace_properties`; separate from the coordinator so `cleanup` "
               "never touches table metadata.",
               {}, 0, 0, true},
    OptionSpec{"sink.catalog_uri", K::kString, "", "REST catalog URL."},
    OptionSpec{"sink.catalog_auth", K::kEnum, "",
               "REST catalog authentication: empty (none), `bearer`, `oauth2` (client "
               "credentials) or `sigv4`.",
               "|none|bearer|oauth2|sigv4", 0, 0, false, true},
    OptionSpec{"sink.catalog_token", K::kSecret, "", "Bearer token (`catalog_auth: bearer`)."},
    OptionSpec{"sink.catalog_client_id", K::kString, "", "OAuth2 client id."},
    OptionSpec{"sink.catalog_client_secret", K::kSecret, "", "OAuth2 client secret."},
    OptionSpec{"sink.credential_mode", K::kEnum, "static",
               "Where S3 credentials come from: `static` (the s3_* keys), `iam` (environment / "
               "instance chain) or `vended` (returned by the REST catalog's loadTable).",
               "static|iam|vended"},
    OptionSpec{"sink.warehouse", K::kString, "",
               "Warehouse root: `s3://bucket/prefix` or `file:///dir`. Default: "
               "`file://<current directory>/warehouse`."},
    OptionSpec{"sink.namespace", K::kString, "default", "Iceberg namespace of the tables."},
    OptionSpec{"sink.table_name", K::kString, "{table}",
               "Iceberg name of a table without `tables[].iceberg.name`: `{table}` (the "
               "PostgreSQL name) or a template with `{schema}` and `{table}`, e.g. "
               "`{schema}_{table}` (public.orders → `<namespace>.public_orders`).",
               {}, 0, 0, true},
    OptionSpec{"sink.s3_tables_arn", K::kString, "",
               "AWS S3 Tables: the table bucket ARN (`arn:aws:s3tables:<region>:<account>:"
               "bucket/<name>`; environment `S3_TABLE_BUCKET_ARN` too). Selects the S3 Tables "
               "Iceberg REST endpoint of its region, SigV4 for `s3tables` with the `s3_*` keys "
               "(or `credential_mode: iam`) and the ARN as warehouse (docs/rest-catalog.md). "
               "`catalog_uri` overrides the endpoint.",
               {}, 0, 0, true},
    OptionSpec{"sink.glue_catalog_id", K::kString, "",
               "AWS Glue: the catalog id (the account id, or `<account>:s3tablescatalog/<bucket>`). "
               "Selects Glue's Iceberg REST endpoint of `s3_region`, SigV4 for `glue`, the id as "
               "warehouse.",
               {}, 0, 0, true},
    OptionSpec{"sink.s3_endpoint", K::kString, "",
               "S3-compatible endpoint URL (`http://` allowed; path-style addressing). Empty "
               "uses AWS."},
    OptionSpec{"sink.s3_access_key", K::kString, "", "S3 access key id."},
    OptionSpec{"sink.s3_secret_key", K::kSecret, "", "S3 secret access key."},
    OptionSpec{"sink.s3_region", K::kString, "us-east-1", "S3 region."},
    OptionSpec{"sink.flush_interval", K::kDuration, "10s",
               "Stage buffered changes at least this often.", {}, 1},
    OptionSpec{"sink.flush_rows", K::kInt, "1000",
               "Stage when this many rows are buffered.", {}, 1, 1'000'000'000},
    OptionSpec{"sink.flush_bytes", K::kBytes, "64MiB",
               "Stage when this many bytes are buffered.", {}, 1},
    OptionSpec{"sink.materializer_interval", K::kDuration, "10s",
               "Cadence of the materializer once it has caught up; while more is staged than "
               "one batch takes, the next batch starts at once. In `run`, while changes "
               "arrive, a batch starts half of it after the last and first has the WAL writer "
               "stage what it holds: a change is visible about half of this after its commit.",
               {}, 1},
    OptionSpec{"sink.materializer_concurrency", K::kInt, "0",
               "Tables one process (`run` or a `materializer-only` worker) materializes at once, "
               "each lane on its own connections, so one slow or huge table does not hold the "
               "others back; `0`: one lane per core, at most 4.", {}, 0, 64},
    OptionSpec{"sink.compaction_data_files", K::kInt, "8",
               "Compact a partition once it has this many small data files.", {}, 1, 1 << 30},
    OptionSpec{"sink.compaction_delete_files", K::kInt, "4",
               "… or this many delete files.", {}, 1, 1 << 30},
    OptionSpec{"sink.target_file_size", K::kBytes, "128MiB",
               "Target size of data files; `0` disables compaction.", {}, 0},
    OptionSpec{"sink.compaction_interval", K::kDuration, "1m",
               "How often `run` looks for partitions past the compaction thresholds and compacts "
               "them in the background (one table at a time, next to the materializer). Empty "
               "turns background compaction off (`pg2iceberg compact` still works).",
               {}, 1000, 0, true, true},
    OptionSpec{"sink.delete_mode", K::kEnum, "position",
               "How updates and deletes are written: `position` deletes (only for rows that are "
               "live, found through a primary-key index kept in sink.index_dir; every engine "
               "reads them), `dv` (the same rows as deletion vectors in Puffin files, one per "
               "data file; needs format v3 tables, so it applies to tables it creates, and "
               "engines without v3 support cannot read them) or `equality` deletes on the "
               "primary key (upstream's behaviour: one per change, which PyIceberg, Snowflake "
               "and Databricks do not read). `tables[].iceberg.delete_mode` overrides it per "
               "table. docs/key-index.md compares them.",
               "equality|position|dv", 0, 0, true},
    OptionSpec{"sink.index_dir", K::kString, "pg2iceberg-index",
               "Local directory of the primary-key indexes (`position` delete mode), one "
               "RocksDB per table; relative to the working directory. Keep it on a persistent "
               "volume: a missing or stale index is rebuilt from the table."},
    OptionSpec{"sink.maintenance_retention", K::kDuration, "168h",
               "`maintain` expires snapshots older than this (never the current one). Empty "
               "turns expiry off.",
               {}, 0, 0, false, true},
    OptionSpec{"sink.maintenance_grace", K::kDuration, "30m",
               "Unreferenced files younger than this are kept: staged files of interrupted "
               "flushes, which `run` and `stream-only` delete once older, and what `maintain` "
               "removes. Must exceed the longest upload (minutes). Empty turns orphan cleanup off.",
               {}, 0, 0, false, true},
    OptionSpec{"sink.materialized_prefix", K::kString, "materialized/",
               "Where materialized files live under the warehouse."},
    OptionSpec{"sink.include_metadata", K::kBool, "false",
               "Every row of a mirror table carries `_commit_ts` (commit time) and `_lsn` (commit "
               "LSN as a number) of the last change to it, for downstream jobs that read "
               "incrementally; the columns are added to existing tables. Rows of a copy have "
               "`_lsn` = the copy's LSN and `_commit_ts` NULL.",
               {}, 0, 0, true},
    OptionSpec{"sink.meta_namespace", K::kString, "",
               "Namespace of the meta tables `commits`, `compactions` and `maintenance`, which "
               "record what pg2iceberg did (docs/operations.md); empty disables them."},

    OptionSpec{"state.postgres_url", K::kSecretUrl, "",
               "libpq URL of a separate coordinator database. Default: the source database."},
    OptionSpec{"state.coordinator_schema", K::kString, "_pg2iceberg",
               "PostgreSQL schema of the coordinator tables."},
    OptionSpec{"state.group", K::kString, "default",
               "Consumer group of distributed materializers."},

    OptionSpec{"notifications.webhook_url", K::kSecret, "",
               "`http(s)://` URL every commit event is POSTed to (JSON; header `Idempotency-Key` "
               "= the snapshot id), after each Iceberg commit to a replicated table; retried "
               "with backoff, never holding replication back (docs/notifications.md). Kept "
               "secret (such URLs often carry a token). Empty: none.",
               {}, 0, 0, true},
    OptionSpec{"notifications.webhook_timeout", K::kDuration, "10s",
               "How long one webhook delivery may take before it counts as failed.", {}, 1, 0,
               true},
    OptionSpec{"notifications.channel", K::kString, "",
               "PostgreSQL channel on the coordinator database that receives every commit event "
               "as a `NOTIFY` payload (listen with `LISTEN <channel>`). Empty: none.",
               {}, 0, 0, true},
    OptionSpec{"notifications.poll_interval", K::kDuration, "10s",
               "How often every table is looked at for commits this process did not make "
               "(compaction, `materializer-only` workers, a `stream-only` owner); its own "
               "commits are announced at once.", {}, 1, 0, true},

    OptionSpec{"metrics_addr", K::kString, "127.0.0.1:9090",
               "`host:port` of the Prometheus `/metrics`, `/healthz` and `/ready` endpoint "
               "(`run`, `stream-only`, `snapshot`; see docs/metrics.md); `\"\"` disables it. An "
               "address that cannot be bound stops the command at start.",
               {}, 0, 0, false, true},
    OptionSpec{"memory_limit", K::kBytes, "512MiB",
               "The memory budget of a process that the buffers are sized from: the WAL writer "
               "stages (or spills a large open transaction) before it buffers an eighth of it "
               "(lowering `sink.flush_bytes`), and a materializer batch reads staged changes "
               "until they take a quarter of it (shared by the lanes); the rest is for what a "
               "batch becomes while it is written. A batch takes at least one staged file.",
               {}, 64LL << 20, 0, true},
    OptionSpec{"max_outage", K::kDuration, "",
               "How long `run` and `stream-only` keep retrying through a transient fault "
               "(PostgreSQL, the catalog or the object store unreachable, a full disk) before "
               "they give up and exit 1. Empty: retry for as long as it takes (docs/operations.md).",
               {}, 1, 0, true, true},
    OptionSpec{"snapshot_only", K::kBool, "false",
               "Legacy: same as the `snapshot` subcommand."},
};

}  // namespace

std::span<const OptionSpec> AllOptions() { return kOptions; }

const OptionSpec* FindOption(std::string_view path) {
  for (const OptionSpec& o : kOptions) {
    if (o.path == path) return &o;
  }
  return nullptr;
}

std::string EnvNameFor(std::string_view path) {
  std::string out = "PG2ICEBERG_";
  for (char c : path) {
    out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

namespace {

std::string_view KindName(OptionKind k) {
  switch (k) {
    case K::kString: return "string";
    case K::kSecret: return "secret string";
    case K::kSecretUrl: return "URL (password redacted)";
    case K::kBool: return "bool";
    case K::kInt: return "integer";
    case K::kDuration: return "duration";
    case K::kBytes: return "size";
    case K::kEnum: return "enum";
  }
  return "string";
}

}  // namespace

std::string RenderReferenceMarkdown() {
  std::string md =
      "# Configuration reference\n\n"
      "<!-- Generated by `pg2iceberg config --reference` from src/config/options.cc; "
      "a unit test keeps this file in sync. -->\n\n"
      "The YAML file is the one given with `--config FILE`, or else `config.yaml` in the "
      "working directory. Without that file the environment alone configures pg2iceberg; "
      "when it sets nothing either, every command except `config --reference` stops with an "
      "error (exit 2) instead of running on defaults.\n\n"
      "Precedence: defaults < YAML < environment < command-line flags. Durations are "
      "Go-style (`500ms`, `10s`, `5m`, `1h30m`, `168h`, `7d`); sizes are bytes or take a "
      "unit (`64MiB`, `64MB`, `1GiB`). Unknown keys are warned about by name; invalid values "
      "are errors that name the key, and a key repeated in one mapping is an error naming "
      "both lines. Secrets never appear in logs, errors or `config` output.\n\n"
      "Every key can be set from the environment as `PG2ICEBERG_<PATH>`, upper case, `_` "
      "between levels (e.g. `PG2ICEBERG_SINK_FLUSH_ROWS=5000`). Upstream's variables are "
      "honoured too: `POSTGRES_URL`, `TABLES` (comma-separated), `MODE`, `SLOT_NAME`, "
      "`PUBLICATION_NAME`, `ICEBERG_CATALOG_URL`, `WAREHOUSE`, `NAMESPACE`, `S3_ENDPOINT`, "
      "`S3_ACCESS_KEY`, `S3_SECRET_KEY`, `S3_REGION`, `STATE_POSTGRES_URL`, and the "
      "one-container names `POSTGRES_HOST`, `POSTGRES_PORT`, `POSTGRES_DB`, "
      "`POSTGRES_USER`, `POSTGRES_PASSWORD`, `AWS_REGION`. `PG2ICEBERG_*` wins over them.\n\n"
      "## Tables\n\n"
      "| key | default | meaning |\n|---|---|---|\n"
      "| `tables[].name` | required | `schema.table` (`table` alone means `public.table`); "
      "double-quote a part that contains a dot or quote: `\"My Schema\".\"a.b\"`. Names are "
      "taken literally (no case folding). |\n"
      "| `tables[].primary_key` | discovered | list of columns; overrides or supplies the key "
      "|\n"
      "| `tables[].columns[]` | discovered | `{name, pg_type, nullable}` list instead of "
      "discovery |\n"
      "| `tables[].skip_snapshot` | `false` | table already populated; no initial copy |\n"
      "| `tables[].watermark_column` | — | query mode: monotonically non-decreasing column "
      "(smallint, int, bigint, numeric, date, timestamp, timestamptz) |\n"
      "| `tables[].initial_offset` | — | query mode: start after this watermark instead of "
      "copying the table |\n"
      "| `tables[].batch_size`, `poll_interval`, `lookback` | `source.query.*` | query mode: "
      "this table's |\n"
      "| `tables[].custom_query` | — | query mode: SELECT run instead of the generated one; "
      "`$1` the last watermark read (NULL at first), `$2` the page size; must return the "
      "table's columns with `watermark >= $1` ordered by the watermark |\n"
      "| `tables[].capture_operations` | all | which changes are replicated, "
      "of `insert`, `update`, `delete`, `truncate` (e.g. `[insert, update]` keeps rows deleted "
      "at the source); skipped ones are counted in `pg2iceberg_skipped_changes_total`. Query "
      "mode sees no deletes or truncations; it tells inserts from updates by the key index "
      "(delete mode position or dv) |\n"
      "| `tables[].iceberg.partition[]` | none | `col`, `year(col)`, `month(col)`, "
      "`day(col)`, `hour(col)`, `bucket[N](col)`, `truncate[W](col)` |\n"
      "| `tables[].iceberg.namespace` | `sink.namespace` | Iceberg namespace of this table |\n"
      "| `tables[].iceberg.name` | the table name | Iceberg table name (without the schema); "
      "two configured tables may not map to the same Iceberg table, so `public.orders` and "
      "`sales.orders` need one of these set |\n"
      "| `tables[].iceberg.delete_mode` | `sink.delete_mode` | `equality`, `position` or `dv` "
      "for this table |\n"
      "| `tables[].iceberg.column_names` | `as_is` | `snake_case`: Iceberg column names in "
      "snake_case (`CustomerID` → `customer_id`); refused when two columns would map to one "
      "name. Partition fields name the PostgreSQL column. |\n"
      "| `tables[].iceberg.mode` | `mirror` | `mirror`: a table of the source's rows; "
      "`history`: an append-only table `<name>_history` of every change (`_op`, "
      "`_commit_ts`, `_lsn`, `_xid`, `_seq`, the old row in `_before`), partitioned by "
      "`day(_commit_ts)`; `both`: the two. Logical mode only (docs/history.md) |\n"
      "| `sink.catalog_props` | `{}` | extra REST catalog properties, e.g. "
      "`header.X-Foo: bar`; values of keys that look secret are redacted when shown |\n\n"
      "## Scalar keys\n\n"
      "| key | type | default | meaning | environment |\n|---|---|---|---|---|\n";
  for (const OptionSpec& o : kOptions) {
    md += "| `";
    md += o.path;
    md += "`";
    if (o.ours) md += " *(new)*";
    md += " | ";
    md += KindName(o.kind);
    if (o.kind == K::kEnum) {
      md += ": ";
      std::string_view rest = o.allowed;
      bool first = true;
      while (true) {
        auto bar = rest.find('|');
        std::string_view v = rest.substr(0, bar);
        if (!v.empty()) {
          if (!first) md += ", ";
          md += "`";
          md += v;
          md += "`";
          first = false;
        }
        if (bar == std::string_view::npos) break;
        rest.remove_prefix(bar + 1);
      }
    }
    md += " | ";
    if (o.default_value.empty()) {
      md += "—";
    } else {
      md += "`";
      md += o.default_value;
      md += "`";
    }
    md += " | ";
    md += o.doc;
    md += " | `";
    md += EnvNameFor(o.path);
    md += "` |\n";
  }
  return md;
}

}  // namespace pg2iceberg::config

#include "coord/pg_coordinator.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include "pg/catalog.h"

namespace pg2iceberg::coord {
namespace {

constexpr int kSchemaVersion = 2;

Result<Lsn> ParseLsnColumn(const std::optional<std::string>& v) {
  if (!v) return Lsn();
  return Lsn::Parse(*v);
}

LogEntry EntryFromRow(const std::vector<std::optional<std::string>>& r) {
  LogEntry e;
  e.table = *r[0];
  e.start_offset = std::stoll(*r[1]);
  e.end_offset = std::stoll(*r[2]);
  e.uri = *r[3];
  e.rows = std::stoll(*r[4]);
  e.bytes = std::stoll(*r[5]);
  e.min_commit_lsn = ParseLsnColumn(r[6]).value_or(Lsn());
  e.max_commit_lsn = ParseLsnColumn(r[7]).value_or(Lsn());
  // Rows registered before the kind was recorded: the name says it.
  e.kind = r.size() > 8 && r[8] ? (*r[8] == "snapshot" ? io::StagedKind::kSnapshot
                                                       : io::StagedKind::kChanges)
                                : io::StagedKindOfName(e.uri);
  return e;
}

}  // namespace

PgCoordinator::PgCoordinator(std::unique_ptr<pg::Connection> conn, std::string schema)
    : conn_(std::move(conn)), schema_(std::move(schema)) {}

std::string PgCoordinator::T(const char* table) const {
  return pg::QuoteIdent(schema_) + "." + table;
}

template <typename F>
auto PgCoordinator::InTransaction(F&& body) -> decltype(body()) {
  PG2I_RETURN_IF_ERROR(conn_->Exec("BEGIN"));
  auto result = body();
  if (!result.ok()) {
    (void)conn_->Exec("ROLLBACK");
    return result;
  }
  Status commit = conn_->Exec("COMMIT");
  if (!commit.ok()) {
    // A failed COMMIT leaves the outcome unknown only if the connection broke; PostgreSQL
    // either committed or not, and the caller's retry is safe because names are unique.
    (void)conn_->Exec("ROLLBACK");
    return commit;
  }
  return result;
}

std::string PgCoordinator::MigrationSql(const std::string& schema) {
  const std::string s = pg::QuoteIdent(schema);
  return "CREATE SCHEMA IF NOT EXISTS " + s + ";\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".pipeline_meta (\n"
         "  key text PRIMARY KEY,\n"
         "  value text NOT NULL,\n"
         "  updated_at timestamptz NOT NULL DEFAULT now());\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".log_seq (\n"
         "  table_name text PRIMARY KEY,\n"
         "  next_offset bigint NOT NULL);\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".log_index (\n"
         "  table_name text NOT NULL,\n"
         "  start_offset bigint NOT NULL,\n"
         "  end_offset bigint NOT NULL,\n"
         "  uri text NOT NULL,\n"
         "  rows bigint NOT NULL,\n"
         "  bytes bigint NOT NULL,\n"
         "  min_commit_lsn pg_lsn,\n"
         "  max_commit_lsn pg_lsn,\n"
         "  created_at timestamptz NOT NULL DEFAULT now(),\n"
         "  PRIMARY KEY (table_name, start_offset));\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".mat_cursor (\n"
         "  group_name text NOT NULL,\n"
         "  table_name text NOT NULL,\n"
         "  last_offset bigint NOT NULL,\n"
         "  snapshot_id bigint NOT NULL DEFAULT -1,\n"
         "  updated_at timestamptz NOT NULL DEFAULT now(),\n"
         "  PRIMARY KEY (group_name, table_name));\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".consumer (\n"
         "  group_name text NOT NULL,\n"
         "  worker_id text NOT NULL,\n"
         "  started_at timestamptz NOT NULL DEFAULT now(),\n"
         "  heartbeat_at timestamptz NOT NULL DEFAULT now(),\n"
         "  PRIMARY KEY (group_name, worker_id));\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".flushed_lsn (\n"
         "  slot_name text PRIMARY KEY,\n"
         "  lsn pg_lsn NOT NULL,\n"
         "  updated_at timestamptz NOT NULL DEFAULT now());\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".tables (\n"
         "  table_name text PRIMARY KEY,\n"
         "  relid oid,\n"
         "  snapshot_complete boolean NOT NULL DEFAULT false,\n"
         "  snapshot_lsn pg_lsn,\n"
         "  updated_at timestamptz NOT NULL DEFAULT now());\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".snapshot_progress (\n"
         "  table_name text NOT NULL,\n"
         "  chunk_start bigint NOT NULL,\n"
         "  chunk_end bigint NOT NULL,\n"
         "  rows bigint NOT NULL DEFAULT 0,\n"
         "  done_at timestamptz NOT NULL DEFAULT now(),\n"
         "  PRIMARY KEY (table_name, chunk_start));\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".log_deferred (\n"
         "  table_name text NOT NULL,\n"
         "  seq bigserial,\n"
         "  uri text NOT NULL,\n"
         "  rows bigint NOT NULL,\n"
         "  bytes bigint NOT NULL,\n"
         "  min_commit_lsn pg_lsn,\n"
         "  max_commit_lsn pg_lsn,\n"
         "  created_at timestamptz NOT NULL DEFAULT now(),\n"
         "  PRIMARY KEY (table_name, seq));\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".owner (\n"
         "  id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),\n"
         "  host text NOT NULL,\n"
         "  pid bigint NOT NULL,\n"
         "  command text NOT NULL,\n"
         "  started_at timestamptz NOT NULL DEFAULT now(),\n"
         "  heartbeat_at timestamptz NOT NULL DEFAULT now(),\n"
         "  stopped_at timestamptz,\n"
         "  last_error text);\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".query_watermarks (\n"
         "  table_name text PRIMARY KEY,\n"
         "  watermark text,\n"
         "  updated_at timestamptz NOT NULL DEFAULT now());\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".pending_markers (\n"
         "  marker_id text PRIMARY KEY,\n"
         "  lsn pg_lsn NOT NULL,\n"
         "  payload text,\n"
         "  created_at timestamptz NOT NULL DEFAULT now());\n" +
         "CREATE TABLE IF NOT EXISTS " + s + ".marker_emissions (\n"
         "  marker_id text NOT NULL,\n"
         "  table_name text NOT NULL,\n"
         "  snapshot_id bigint,\n"
         "  emitted_at timestamptz NOT NULL DEFAULT now(),\n"
         "  PRIMARY KEY (marker_id, table_name));\n" +
         // Markers are aligned per table by log offset; emitted once the snapshot is known.
         "ALTER TABLE " + s + ".marker_emissions ADD COLUMN IF NOT EXISTS log_offset bigint,\n"
         "  ADD COLUMN IF NOT EXISTS emitted boolean NOT NULL DEFAULT false,\n"
         "  ADD COLUMN IF NOT EXISTS recorded boolean NOT NULL DEFAULT false;\n"
         "CREATE INDEX IF NOT EXISTS marker_emissions_pending ON " + s +
         ".marker_emissions (table_name, log_offset) WHERE NOT emitted;\n"
         // What a registered file holds ('changes' or 'snapshot'; NULL before: its name says).
         "ALTER TABLE " + s + ".log_index ADD COLUMN IF NOT EXISTS kind text;\n"
         // The snapshot a chunk was copied under (chunks of two snapshots are not one copy).
         "ALTER TABLE " + s + ".snapshot_progress ADD COLUMN IF NOT EXISTS snapshot_lsn pg_lsn;\n"
         // Which process a worker is (status lists the workers of distributed mode).
         "ALTER TABLE " + s + ".consumer ADD COLUMN IF NOT EXISTS host text NOT NULL DEFAULT '',\n"
         "  ADD COLUMN IF NOT EXISTS pid bigint NOT NULL DEFAULT 0,\n"
         "  ADD COLUMN IF NOT EXISTS ttl_seconds bigint NOT NULL DEFAULT 30;\n";
}

Status PgCoordinator::Migrate() {
  Status s = MigrateInTransaction();
  if (s.ok() || s.message().find("SQLSTATE 42501") == std::string::npos) return s;
  // The role may not create the schema, or may not write tables someone else created in it.
  auto who = conn_->Query("SELECT current_user, current_database()");
  const std::string role = who.ok() ? who->rows.at(0).at(0).value_or("?") : "this role";
  const std::string db = who.ok() ? who->rows.at(0).at(1).value_or("?") : "the database";
  return FailedPrecondition(
      "role " + role + " may not create or write the coordinator schema " + schema_ +
      " in database " + db + ": GRANT CREATE ON DATABASE " + pg::QuoteIdent(db) + " TO " +
      pg::QuoteIdent(role) + " (or, if the schema exists, GRANT USAGE, CREATE ON SCHEMA " +
      pg::QuoteIdent(schema_) + " and ALL ON ALL TABLES/SEQUENCES IN it), or set "
      "state.coordinator_schema to a schema the role owns, or state.postgres_url to a database "
      "where it may (" + s.message() + ")");
}

Status PgCoordinator::MigrateInTransaction() {
  return InTransaction([&]() -> Status {
    // Serialises concurrent migrations (several workers starting at once).
    PG2I_RETURN_IF_ERROR(conn_->Query("SELECT pg_advisory_xact_lock(hashtext($1))",
                                      {"pg2iceberg-migrate:" + schema_})
                             .status());
    PG2I_RETURN_IF_ERROR(conn_->Exec(MigrationSql(schema_)));
    return conn_
        ->Query("INSERT INTO " + T("pipeline_meta") +
                    " (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE "
                    "SET value = GREATEST(" + T("pipeline_meta") +
                    ".value::int, EXCLUDED.value::int)::text, updated_at = now()",
                {std::to_string(kSchemaVersion)})
        .status();
  });
}

Result<bool> PgCoordinator::SchemaExists() {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn_->Query("SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                                     {schema_}));
  return r.rows.at(0).at(0).value_or("0") != "0";
}

Result<PgCoordinator::TableActivity> PgCoordinator::Activity(const std::string& group,
                                                             const std::string& table) {
  TableActivity a;
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult c,
      conn_->Query("SELECT to_char(updated_at AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), extract(epoch FROM now() - "
                   "updated_at)::float8, last_offset FROM " + T("mat_cursor") +
                       " WHERE group_name = $1 AND table_name = $2 AND snapshot_id >= 0",
                   {group, table}));
  std::string offset = "-1";
  if (!c.rows.empty()) {
    a.last_commit_at = c.rows[0][0].value_or("");
    a.last_commit_age_s = std::stod(c.rows[0][1].value_or("0"));
    offset = c.rows[0][2].value_or("-1");
  }
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult p,
      conn_->Query("SELECT extract(epoch FROM now() - created_at)::float8, "
                   "min_commit_lsn::text FROM " + T("log_index") +
                       " WHERE table_name = $1 AND end_offset > GREATEST($2::bigint, 0) "
                       "ORDER BY start_offset LIMIT 1",
                   {table, offset}));
  if (!p.rows.empty()) {
    a.oldest_pending_age_s = std::stod(p.rows[0][0].value_or("0"));
    PG2I_ASSIGN_OR_RETURN(a.oldest_pending_lsn, ParseLsnColumn(p.rows[0][1]));
  }
  return a;
}

Status PgCoordinator::DropSchema() {
  return conn_->Exec("DROP SCHEMA IF EXISTS " + pg::QuoteIdent(schema_) + " CASCADE");
}

Result<std::vector<LogEntry>> PgCoordinator::ClaimOffsets(const std::vector<StagedFile>& files,
                                                          const StagedThrough& staged) {
  if (files.empty()) return std::vector<LogEntry>();
  return InTransaction([&]() -> Result<std::vector<LogEntry>> {
    PG2I_ASSIGN_OR_RETURN(auto out, ClaimInTransaction(files));
    if (!staged.slot.empty()) PG2I_RETURN_IF_ERROR(RecordFlushedLsn(staged.slot, staged.lsn));
    for (const auto& [k, v] : staged.meta) PG2I_RETURN_IF_ERROR(SetMeta(k, v));
    return out;
  });
}

Result<std::vector<LogEntry>> PgCoordinator::ClaimInTransaction(
    const std::vector<StagedFile>& files, bool defer) {
  for (const StagedFile& f : files) {
    if (f.rows <= 0) return InvalidArgument("staged file " + f.uri + " holds no changes");
  }
  // Which tables still wait for their snapshot? FOR SHARE waits for a CompleteSnapshot in
  // progress (it holds the row FOR UPDATE), so a file is deferred or not, never lost between.
  std::map<std::string, bool> waiting;
  for (const StagedFile& f : files) {
    if (!defer || f.kind == io::StagedKind::kSnapshot || waiting.count(f.table)) continue;
    PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                          conn_->Query("SELECT snapshot_complete FROM " + T("tables") +
                                           " WHERE table_name = $1 FOR SHARE",
                                       {f.table}));
    waiting[f.table] = !r.rows.empty() && *r.rows[0][0] == "f";
  }
  std::map<std::string, int64_t> totals;
  for (const StagedFile& f : files) {
    if (f.kind != io::StagedKind::kSnapshot && waiting[f.table]) continue;
    totals[f.table] += f.rows;
  }
  // Reserve each table's range with one upsert; the row lock orders concurrent claimers.
  std::map<std::string, int64_t> next;
  for (const auto& [table, n] : totals) {
    PG2I_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        conn_->Query("INSERT INTO " + T("log_seq") + " AS s (table_name, next_offset) "
                     "VALUES ($1, $2::bigint) ON CONFLICT (table_name) DO UPDATE SET "
                     "next_offset = s.next_offset + EXCLUDED.next_offset "
                     "RETURNING next_offset - $2::bigint",
                     {table, std::to_string(n)}));
    next[table] = std::stoll(*r.rows.at(0).at(0));
  }
  std::vector<LogEntry> out;
  out.reserve(files.size());
  for (const StagedFile& f : files) {
    LogEntry e = LogEntry::Of(f);
    if (f.kind != io::StagedKind::kSnapshot && waiting[f.table]) {
      e.start_offset = e.end_offset = -1;
      PG2I_RETURN_IF_ERROR(
          conn_->Query("INSERT INTO " + T("log_deferred") +
                           " (table_name, uri, rows, bytes, min_commit_lsn, max_commit_lsn) "
                           "VALUES ($1, $2, $3, $4, $5::pg_lsn, $6::pg_lsn)",
                       {e.table, e.uri, std::to_string(e.rows), std::to_string(e.bytes),
                        e.min_commit_lsn.ToString(), e.max_commit_lsn.ToString()})
              .status());
      out.push_back(std::move(e));
      continue;
    }
    e.start_offset = next[f.table];
    e.end_offset = e.start_offset + f.rows;
    next[f.table] = e.end_offset;
    PG2I_RETURN_IF_ERROR(
        conn_->Query("INSERT INTO " + T("log_index") +
                         " (table_name, start_offset, end_offset, uri, rows, bytes, "
                         "min_commit_lsn, max_commit_lsn, kind) VALUES ($1, $2, $3, $4, $5, $6, "
                         "$7::pg_lsn, $8::pg_lsn, $9)",
                     {e.table, std::to_string(e.start_offset), std::to_string(e.end_offset),
                      e.uri, std::to_string(e.rows), std::to_string(e.bytes),
                      e.min_commit_lsn.ToString(), e.max_commit_lsn.ToString(),
                      e.kind == io::StagedKind::kSnapshot ? "snapshot" : "changes"})
            .status());
    out.push_back(std::move(e));
  }
  return out;
}

namespace {
// snapshot_progress keys a chunk by (table, chunk_start); a partitioned table's leaves share
// the table name, so the leaf index goes into the high 32 bits (heap pages fit in 32 bits).
int64_t EncodePage(int64_t part, int64_t page) { return page < 0 ? -1 : (part << 32) | page; }
}  // namespace

Result<std::vector<LogEntry>> PgCoordinator::ClaimSnapshotChunk(
    const std::vector<StagedFile>& files, const SnapshotChunk& chunk) {
  std::vector<StagedFile> marked = files;
  for (auto& f : marked) f.kind = io::StagedKind::kSnapshot;
  return InTransaction([&]() -> Result<std::vector<LogEntry>> {
    PG2I_ASSIGN_OR_RETURN(auto out, ClaimInTransaction(marked));
    PG2I_RETURN_IF_ERROR(
        conn_->Query("INSERT INTO " + T("snapshot_progress") +
                         " (table_name, chunk_start, chunk_end, rows, snapshot_lsn) "
                         "VALUES ($1, $2, $3, $4, $5::pg_lsn)",
                     {chunk.table, std::to_string(EncodePage(chunk.part, chunk.start)),
                      std::to_string(EncodePage(chunk.part, chunk.end)),
                      std::to_string(chunk.rows), chunk.lsn.ToString()})
            .status());
    return out;
  });
}

Result<std::vector<SnapshotChunk>> PgCoordinator::SnapshotChunks(const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn_->Query("SELECT chunk_start, chunk_end, rows, snapshot_lsn::text FROM " +
                                         T("snapshot_progress") +
                                         " WHERE table_name = $1 ORDER BY chunk_start",
                                     {table}));
  std::vector<SnapshotChunk> out;
  for (const auto& row : r.rows) {
    const int64_t start = std::stoll(*row[0]);
    const int64_t end = std::stoll(*row[1]);
    SnapshotChunk c;
    c.table = table;
    c.part = start >> 32;
    c.start = start & 0xffffffffLL;
    c.end = end < 0 ? -1 : (end & 0xffffffffLL);
    c.rows = std::stoll(*row[2]);
    c.lsn = ParseLsnColumn(row[3]).value_or(Lsn());
    out.push_back(std::move(c));
  }
  return out;
}

Status PgCoordinator::CompleteSnapshot(const std::string& table, Lsn snapshot_lsn) {
  return InTransaction([&]() -> Status {
    PG2I_RETURN_IF_ERROR(conn_->Query("SELECT 1 FROM " + T("tables") +
                                          " WHERE table_name = $1 FOR UPDATE",
                                      {table})
                             .status());
    PG2I_RETURN_IF_ERROR(
        conn_->Query("UPDATE " + T("tables") +
                         " SET snapshot_complete = true, snapshot_lsn = $2::pg_lsn, "
                         "updated_at = now() WHERE table_name = $1",
                     {table, snapshot_lsn.ToString()})
            .status());
    PG2I_ASSIGN_OR_RETURN(std::vector<StagedFile> files, TakeDeferred(table));
    if (files.empty()) return Status::Ok();
    return ClaimInTransaction(files).status();
  });
}

Result<std::vector<StagedFile>> PgCoordinator::TakeDeferred(const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("DELETE FROM " + T("log_deferred") +
                       " WHERE table_name = $1 RETURNING seq, uri, rows, bytes, "
                       "min_commit_lsn::text, max_commit_lsn::text",
                   {table}));
  std::vector<std::pair<int64_t, StagedFile>> waiting;
  for (const auto& row : r.rows) {
    StagedFile f;
    f.table = table;
    f.uri = *row[1];
    f.rows = std::stoll(*row[2]);
    f.bytes = std::stoll(*row[3]);
    f.min_commit_lsn = ParseLsnColumn(row[4]).value_or(Lsn());
    f.max_commit_lsn = ParseLsnColumn(row[5]).value_or(Lsn());
    waiting.emplace_back(std::stoll(*row[0]), std::move(f));
  }
  std::sort(waiting.begin(), waiting.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<StagedFile> files;
  for (auto& [seq, f] : waiting) files.push_back(std::move(f));
  return files;
}

Status PgCoordinator::ForgetSnapshotProgress(const std::string& table) {
  return conn_->Query("DELETE FROM " + T("snapshot_progress") + " WHERE table_name = $1", {table})
      .status();
}

Result<int64_t> PgCoordinator::DeferredFiles(const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(std::string n,
                        conn_->QueryScalar("SELECT count(*) FROM " + T("log_deferred") +
                                               " WHERE table_name = " + pg::QuoteLiteral(table)));
  return std::stoll(n);
}

Result<int64_t> PgCoordinator::RequestResync(const std::string& table) {
  return InTransaction([&]() -> Result<int64_t> {
    // FOR UPDATE waits for claims in flight (they hold the row FOR SHARE) and holds back new
    // ones: every claim before this one has an offset below the resync offset, every later CDC
    // file of the table is deferred.
    PG2I_ASSIGN_OR_RETURN(pg::QueryResult t,
                          conn_->Query("SELECT snapshot_complete FROM " + T("tables") +
                                           " WHERE table_name = $1 FOR UPDATE",
                                       {table}));
    if (t.rows.empty() || t.rows[0][0].value_or("f") != "t") {
      return FailedPrecondition("table " + table + " has no complete copy to redo (" +
                                (t.rows.empty() ? "never copied" : "its copy is in progress") +
                                ")");
    }
    PG2I_RETURN_IF_ERROR(conn_->Query("UPDATE " + T("tables") +
                                          " SET snapshot_complete = false, updated_at = now() "
                                          "WHERE table_name = $1",
                                      {table})
                             .status());
    PG2I_RETURN_IF_ERROR(conn_->Query("DELETE FROM " + T("snapshot_progress") +
                                          " WHERE table_name = $1",
                                      {table})
                             .status());
    PG2I_ASSIGN_OR_RETURN(pg::QueryResult seq,
                          conn_->Query("SELECT next_offset FROM " + T("log_seq") +
                                           " WHERE table_name = $1 FOR UPDATE",
                                       {table}));
    const int64_t offset = seq.rows.empty() ? 0 : std::stoll(seq.rows[0][0].value_or("0"));
    PG2I_RETURN_IF_ERROR(SetMeta("resync_offset:" + table, std::to_string(offset)));
    return offset;
  });
}

Result<int64_t> PgCoordinator::RestartCopy(const std::string& table) {
  return InTransaction([&]() -> Result<int64_t> {
    // FOR UPDATE: no claim (FOR SHARE) decides in between whether the table's files wait.
    PG2I_RETURN_IF_ERROR(conn_->Query("SELECT 1 FROM " + T("tables") +
                                          " WHERE table_name = $1 FOR UPDATE",
                                      {table})
                             .status());
    PG2I_ASSIGN_OR_RETURN(std::vector<StagedFile> files, TakeDeferred(table));
    // Into the log although the copy is incomplete: the new copy replaces them.
    if (!files.empty()) PG2I_RETURN_IF_ERROR(ClaimInTransaction(files, /*defer=*/false).status());
    PG2I_RETURN_IF_ERROR(conn_->Query("DELETE FROM " + T("snapshot_progress") +
                                          " WHERE table_name = $1",
                                      {table})
                             .status());
    PG2I_ASSIGN_OR_RETURN(pg::QueryResult seq,
                          conn_->Query("SELECT next_offset FROM " + T("log_seq") +
                                           " WHERE table_name = $1 FOR UPDATE",
                                       {table}));
    const int64_t offset = seq.rows.empty() ? 0 : std::stoll(seq.rows[0][0].value_or("0"));
    PG2I_RETURN_IF_ERROR(SetMeta("resync_offset:" + table, std::to_string(offset)));
    return offset;
  });
}

Result<std::set<std::string>> PgCoordinator::ReferencedUris() {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn_->Query("SELECT uri FROM " + T("log_index") + " UNION SELECT uri FROM " +
                                     T("log_deferred")));
  std::set<std::string> out;
  for (const auto& row : r.rows) out.insert(row.at(0).value_or(""));
  return out;
}

Result<std::vector<LogEntry>> PgCoordinator::ReadLog(const std::string& table,
                                                     int64_t after_offset, int limit) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT table_name, start_offset, end_offset, uri, rows, bytes, "
                   "min_commit_lsn::text, max_commit_lsn::text, kind FROM " + T("log_index") +
                       " WHERE table_name = $1 AND end_offset > $2 ORDER BY start_offset "
                       "LIMIT $3",
                   {table, std::to_string(after_offset), std::to_string(limit)}));
  std::vector<LogEntry> out;
  for (const auto& row : r.rows) out.push_back(EntryFromRow(row));
  return out;
}

Result<int64_t> PgCoordinator::NextOffset(const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn_->Query("SELECT next_offset FROM " + T("log_seq") +
                                         " WHERE table_name = $1",
                                     {table}));
  if (r.rows.empty()) return int64_t{0};
  return std::stoll(*r.rows[0][0]);
}

Status PgCoordinator::RecordFlushedLsn(const std::string& slot, Lsn lsn) {
  return conn_
      ->Query("INSERT INTO " + T("flushed_lsn") +
                  " AS f (slot_name, lsn) VALUES ($1, $2::pg_lsn) ON CONFLICT (slot_name) DO "
                  "UPDATE SET lsn = GREATEST(f.lsn, EXCLUDED.lsn), updated_at = now()",
              {slot, lsn.ToString()})
      .status();
}

Result<std::optional<Lsn>> PgCoordinator::FlushedLsn(const std::string& slot) {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn_->Query("SELECT lsn::text FROM " + T("flushed_lsn") +
                                         " WHERE slot_name = $1",
                                     {slot}));
  if (r.rows.empty()) return std::optional<Lsn>();
  PG2I_ASSIGN_OR_RETURN(Lsn l, Lsn::Parse(*r.rows[0][0]));
  return std::optional<Lsn>(l);
}

Result<Cursor> PgCoordinator::GetCursor(const std::string& group, const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn_->Query("SELECT last_offset, snapshot_id FROM " + T("mat_cursor") +
                                         " WHERE group_name = $1 AND table_name = $2",
                                     {group, table}));
  Cursor c;
  if (!r.rows.empty()) {
    c.offset = std::stoll(*r.rows[0][0]);
    c.snapshot_id = std::stoll(*r.rows[0][1]);
  }
  return c;
}

Status PgCoordinator::SetCursor(const std::string& group, const std::string& table,
                                const Cursor& cursor) {
  return conn_
      ->Query("INSERT INTO " + T("mat_cursor") +
                  " AS c (group_name, table_name, last_offset, snapshot_id) VALUES ($1, $2, "
                  "$3, $4) ON CONFLICT (group_name, table_name) DO UPDATE SET "
                  "last_offset = EXCLUDED.last_offset, snapshot_id = EXCLUDED.snapshot_id, "
                  "updated_at = now() WHERE c.last_offset < EXCLUDED.last_offset",
              {group, table, std::to_string(cursor.offset), std::to_string(cursor.snapshot_id)})
      .status();
}

Result<std::optional<int64_t>> PgCoordinator::MinCursor(const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn_->Query("SELECT min(last_offset) FROM " + T("mat_cursor") +
                                         " WHERE table_name = $1",
                                     {table}));
  if (r.rows.empty() || !r.rows[0][0]) return std::optional<int64_t>();
  return std::optional<int64_t>(std::stoll(*r.rows[0][0]));
}

Result<std::vector<LogEntry>> PgCoordinator::TrimLog(const std::string& table, int64_t offset) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("DELETE FROM " + T("log_index") +
                       " WHERE table_name = $1 AND end_offset <= $2 RETURNING table_name, "
                       "start_offset, end_offset, uri, rows, bytes, min_commit_lsn::text, "
                       "max_commit_lsn::text, kind",
                   {table, std::to_string(offset)}));
  std::vector<LogEntry> out;
  for (const auto& row : r.rows) out.push_back(EntryFromRow(row));
  return out;
}

Status PgCoordinator::Heartbeat(const std::string& group, const std::string& worker) {
  static const std::string host = [] {
    char buf[256] = {0};
    return gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string("unknown-host");
  }();
  return conn_
      ->Query("INSERT INTO " + T("consumer") +
                  " (group_name, worker_id, host, pid, ttl_seconds) VALUES ($1, $2, $3, $4, $5) "
                  "ON CONFLICT (group_name, worker_id) DO UPDATE SET heartbeat_at = now(), host = "
                  "EXCLUDED.host, pid = EXCLUDED.pid, ttl_seconds = EXCLUDED.ttl_seconds",
              {group, worker, host, std::to_string(getpid()),
               std::to_string(heartbeat_ttl_.count())})
      .status();
}

namespace {
constexpr const char* kCommitTurnKeySql = "hashtextextended('pg2iceberg commit:' || $1, 0)";
}  // namespace

Result<bool> PgCoordinator::TakeCommitTurn(const std::string& ident, Clock::Duration wait) {
  Clock* clock = Clock::Real();
  const auto until = clock->Monotonic() + wait;
  const std::string key = schema_ + ":" + ident;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        conn_->Query(std::string("SELECT pg_try_advisory_lock(") + kCommitTurnKeySql + ")::text",
                     {key}));
    if (!r.rows.empty() && r.rows[0].at(0).value_or("false") == "true") return true;
    if (clock->Monotonic() >= until) return false;
    clock->SleepFor(std::chrono::milliseconds(20));
  }
}

Status PgCoordinator::EndCommitTurn(const std::string& ident) {
  return conn_
      ->Query(std::string("SELECT pg_advisory_unlock(") + kCommitTurnKeySql + ")::text",
              {schema_ + ":" + ident})
      .status();
}

Result<std::vector<WorkerInfo>> PgCoordinator::Workers(const std::string& group) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT worker_id, host, pid::text, extract(epoch FROM now() - "
                   "heartbeat_at)::float8::text, to_char(started_at AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ttl_seconds::text FROM " + T("consumer") +
                       " WHERE group_name = $1 ORDER BY worker_id COLLATE \"C\"",
                   {group}));
  std::vector<WorkerInfo> out;
  for (const auto& row : r.rows) {
    out.push_back(WorkerInfo{row[0].value_or(""), row[1].value_or(""),
                             std::stoll(row[2].value_or("0")), std::stod(row[3].value_or("0")),
                             row[4].value_or(""),
                             std::chrono::seconds(std::stoll(row[5].value_or("30")))});
  }
  return out;
}

Result<std::vector<std::string>> PgCoordinator::LiveWorkers(const std::string& group,
                                                            std::chrono::seconds ttl) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT worker_id FROM " + T("consumer") +
                       " WHERE group_name = $1 AND heartbeat_at > now() - make_interval(secs "
                       "=> $2) ORDER BY worker_id COLLATE \"C\"",
                   {group, std::to_string(ttl.count())}));
  std::vector<std::string> out;
  for (const auto& row : r.rows) out.push_back(*row[0]);
  return out;
}

Status PgCoordinator::RemoveWorker(const std::string& group, const std::string& worker) {
  return conn_
      ->Query("DELETE FROM " + T("consumer") + " WHERE group_name = $1 AND worker_id = $2",
              {group, worker})
      .status();
}

Result<std::optional<std::string>> PgCoordinator::GetMeta(const std::string& key) {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn_->Query("SELECT value FROM " + T("pipeline_meta") +
                                         " WHERE key = $1",
                                     {key}));
  if (r.rows.empty()) return std::optional<std::string>();
  return std::optional<std::string>(*r.rows[0][0]);
}

Status PgCoordinator::SetMeta(const std::string& key, const std::string& value) {
  return conn_
      ->Query("INSERT INTO " + T("pipeline_meta") +
                  " (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = "
                  "EXCLUDED.value, updated_at = now()",
              {key, value})
      .status();
}

Result<std::optional<TableState>> PgCoordinator::GetTable(const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT table_name, relid, snapshot_complete, snapshot_lsn::text FROM " +
                       T("tables") + " WHERE table_name = $1",
                   {table}));
  if (r.rows.empty()) return std::optional<TableState>();
  TableState t;
  t.table = *r.rows[0][0];
  t.relid = r.rows[0][1] ? static_cast<uint32_t>(std::stoul(*r.rows[0][1])) : 0;
  t.snapshot_complete = *r.rows[0][2] == "t";
  PG2I_ASSIGN_OR_RETURN(t.snapshot_lsn, ParseLsnColumn(r.rows[0][3]));
  return std::optional<TableState>(std::move(t));
}

Status PgCoordinator::PutTable(const TableState& s) {
  return conn_
      ->Query("INSERT INTO " + T("tables") +
                  " (table_name, relid, snapshot_complete, snapshot_lsn) VALUES ($1, $2, $3, "
                  "NULLIF($4, '0/0')::pg_lsn) ON CONFLICT (table_name) DO UPDATE SET relid = "
                  "EXCLUDED.relid, snapshot_complete = EXCLUDED.snapshot_complete, "
                  "snapshot_lsn = EXCLUDED.snapshot_lsn, updated_at = now()",
              {s.table, std::to_string(s.relid), s.snapshot_complete ? "true" : "false",
               s.snapshot_lsn.ToString()})
      .status();
}

Result<Lsn> PgCoordinator::RecordMarker(const std::string& marker_id, Lsn commit_lsn,
                                        const std::vector<std::string>& tables) {
  return InTransaction([&]() -> Result<Lsn> {
    PG2I_ASSIGN_OR_RETURN(
        pg::QueryResult first,
        conn_->Query("INSERT INTO " + T("pending_markers") +
                         " (marker_id, lsn) VALUES ($1, $2::pg_lsn) ON CONFLICT (marker_id) DO "
                         "UPDATE SET marker_id = EXCLUDED.marker_id RETURNING lsn::text, "
                         "(xmax = 0) AS inserted",
                     {marker_id, commit_lsn.ToString()}));
    PG2I_ASSIGN_OR_RETURN(Lsn recorded, ParseLsnColumn(first.rows.at(0).at(0)));
    if (first.rows.at(0).at(1).value_or("f") != "t") return recorded;
    std::string list;
    for (const std::string& t : tables) list += (list.empty() ? "" : "\n") + t;
    // One statement: the copy states and next offsets are read together.
    PG2I_RETURN_IF_ERROR(
        conn_
            ->Query("INSERT INTO " + T("marker_emissions") +
                        " (marker_id, table_name, log_offset, snapshot_id) SELECT $1, "
                        "t.table_name, COALESCE(q.next_offset, 0), NULL FROM " + T("tables") +
                        " t LEFT JOIN " + T("log_seq") +
                        " q USING (table_name) WHERE t.snapshot_complete AND t.table_name = "
                        "ANY(string_to_array($2, E'\\n')) ON CONFLICT DO NOTHING",
                    {marker_id, list})
            .status());
    return recorded;
  });
}

namespace {
Result<std::vector<MarkerEmission>> EmissionsOf(const pg::QueryResult& r) {
  std::vector<MarkerEmission> out;
  for (const auto& row : r.rows) {
    MarkerEmission e;
    e.marker_id = row.at(0).value_or("");
    PG2I_ASSIGN_OR_RETURN(e.commit_lsn, ParseLsnColumn(row.at(1)));
    e.table = row.at(2).value_or("");
    e.log_offset = std::stoll(row.at(3).value_or("0"));
    e.snapshot_id = std::stoll(row.at(4).value_or("-1"));
    e.emitted = row.at(5).value_or("f") == "t";
    e.recorded = row.at(6).value_or("f") == "t";
    out.push_back(std::move(e));
  }
  return out;
}
constexpr const char* kEmissionColumns =
    "e.marker_id, m.lsn::text, e.table_name, e.log_offset, e.snapshot_id, e.emitted, e.recorded";
}  // namespace

Result<std::vector<MarkerEmission>> PgCoordinator::PendingMarkers(const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query(std::string("SELECT ") + kEmissionColumns + " FROM " + T("marker_emissions") +
                       " e JOIN " + T("pending_markers") +
                       " m USING (marker_id) WHERE e.table_name = $1 AND NOT e.emitted AND "
                       "e.log_offset IS NOT NULL ORDER BY e.log_offset, m.lsn",
                   {table}));
  return EmissionsOf(r);
}

Status PgCoordinator::EmitMarker(const std::string& marker_id, const std::string& table,
                                 int64_t snapshot_id) {
  return conn_
      ->Query("UPDATE " + T("marker_emissions") +
                  " SET emitted = true, snapshot_id = NULLIF($3::bigint, -1), emitted_at = now() "
                  "WHERE marker_id = $1 AND table_name = $2",
              {marker_id, table, std::to_string(snapshot_id)})
      .status();
}

Result<std::vector<MarkerEmission>> PgCoordinator::Markers(int limit) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query(std::string("SELECT ") + kEmissionColumns + " FROM " + T("marker_emissions") +
                       " e JOIN (SELECT marker_id, lsn FROM " + T("pending_markers") +
                       " ORDER BY lsn DESC LIMIT $1) m USING (marker_id) ORDER BY m.lsn DESC, "
                       "e.table_name",
                   {std::to_string(limit)}));
  return EmissionsOf(r);
}

Result<std::vector<MarkerEmission>> PgCoordinator::UnrecordedMarkers(int limit) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query(std::string("SELECT ") + kEmissionColumns + " FROM " + T("marker_emissions") +
                       " e JOIN " + T("pending_markers") +
                       " m USING (marker_id) WHERE e.emitted AND NOT e.recorded ORDER BY m.lsn, "
                       "e.table_name LIMIT $1",
                   {std::to_string(limit)}));
  return EmissionsOf(r);
}

Status PgCoordinator::MarkersRecorded(const std::vector<MarkerEmission>& rows) {
  std::string ids, tables;
  for (const MarkerEmission& e : rows) {
    ids += (ids.empty() ? "" : "\n") + e.marker_id;
    tables += (tables.empty() ? "" : "\n") + e.table;
  }
  if (rows.empty()) return Status::Ok();
  return conn_
      ->Query("UPDATE " + T("marker_emissions") +
                  " e SET recorded = true FROM unnest(string_to_array($1, E'\\n'), "
                  "string_to_array($2, E'\\n')) AS r(marker_id, table_name) WHERE e.marker_id = "
                  "r.marker_id AND e.table_name = r.table_name",
              {ids, tables})
      .status();
}

}  // namespace pg2iceberg::coord

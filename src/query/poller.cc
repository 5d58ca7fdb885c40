#include "query/poller.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "base/crash_point.h"
#include "base/log.h"
#include "base/metrics.h"
#include "io/object_names.h"
#include "pg/catalog.h"
#include "pg/values.h"

namespace pg2iceberg::query {
namespace {

using json = nlohmann::json;

json PositionJson(const Position& p) {
  json j = json::object();
  j["watermark"] = p.watermark ? json(*p.watermark) : json(nullptr);
  j["key"] = p.key;
  return j;
}

Result<Position> PositionFrom(const json& j) {
  if (!j.is_object() || !j.contains("key") || !j["key"].is_array()) {
    return InvalidArgument("expected {watermark, key}");
  }
  Position p;
  if (j.contains("watermark") && j["watermark"].is_string()) {
    p.watermark = j["watermark"].get<std::string>();
  }
  for (const auto& k : j["key"]) {
    if (!k.is_string()) return InvalidArgument("key values must be strings");
    p.key.push_back(k.get<std::string>());
  }
  return p;
}

int64_t UnixMillis(Clock* clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock->Now().time_since_epoch())
      .count();
}

// FNV-1a over a row's text image (NULL distinct from every text).
uint64_t Digest(const std::vector<std::optional<std::string>>& row) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  for (const auto& v : row) {
    if (!v) {
      mix(0xff);
      mix(0x00);
      continue;
    }
    for (unsigned char c : *v) mix(c);
    mix(0x00);
    mix(0x01);
  }
  return h;
}

}  // namespace

std::string EncodeProgress(const Progress& p) {
  json j = json::object();
  j["cursor"] = PositionJson(p.cursor);
  json h = json::array();
  for (const auto& [at, pos] : p.history) h.push_back(json{{"at_ms", at}, {"cursor", PositionJson(pos)}});
  j["history"] = std::move(h);
  j["last_sweep_ms"] = p.last_sweep_ms;
  if (p.after_copy) {
    j["after_copy"] = json{{"snapshot", p.after_copy->snapshot},
                           {"later_xid", p.after_copy->later_xid},
                           {"fence", PositionJson(p.after_copy->fence)}};
  }
  return j.dump();
}

Result<Progress> DecodeProgress(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("cursor")) {
    return InvalidArgument("query mode progress is not valid JSON: " + text);
  }
  Progress p;
  PG2I_ASSIGN_OR_RETURN(p.cursor, PositionFrom(j["cursor"]));
  if (j.contains("history") && j["history"].is_array()) {
    for (const auto& e : j["history"]) {
      if (!e.is_object() || !e.contains("at_ms") || !e["at_ms"].is_number_integer()) {
        return InvalidArgument("query mode progress: bad history entry");
      }
      PG2I_ASSIGN_OR_RETURN(Position pos, PositionFrom(e["cursor"]));
      p.history.emplace_back(e["at_ms"].get<int64_t>(), std::move(pos));
    }
  }
  if (j.contains("last_sweep_ms") && j["last_sweep_ms"].is_number_integer()) {
    p.last_sweep_ms = j["last_sweep_ms"].get<int64_t>();
  }
  if (j.contains("after_copy") && j["after_copy"].is_object()) {
    const json& a = j["after_copy"];
    if (!a.contains("snapshot") || !a["snapshot"].is_string() || !a.contains("fence")) {
      return InvalidArgument("query mode progress: bad after_copy");
    }
    Progress::AfterCopy ac;
    ac.snapshot = a["snapshot"].get<std::string>();
    if (a.contains("later_xid") && a["later_xid"].is_string()) {
      ac.later_xid = a["later_xid"].get<std::string>();
    }
    PG2I_ASSIGN_OR_RETURN(ac.fence, PositionFrom(a["fence"]));
    p.after_copy = std::move(ac);
  }
  return p;
}

std::string ProgressKey(const std::string& table) { return "query_cursor:" + table; }

Result<std::string> TableShape(pg::Connection& conn, const std::string& schema,
                               const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn.Query("SELECT c.oid::text || '|' || coalesce((SELECT string_agg(a.attnum || ':' || "
                 "a.attname || ':' || a.atttypid || ':' || a.atttypmod || ':' || "
                 "a.atthasmissing::int, ',' ORDER BY a.attnum) FROM pg_attribute a WHERE "
                 "a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') FROM pg_class c "
                 "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND "
                 "c.relname = $2",
                 {schema, table}));
  if (r.rows.empty()) return std::string();
  return r.rows[0][0].value_or("");
}

namespace {

// attnum → "type:typmod:hasmissing" of a shape string; and its oid.
std::map<std::string, std::string> ShapeColumns(const std::string& shape, std::string* oid) {
  std::map<std::string, std::string> out;
  const size_t bar = shape.find('|');
  *oid = shape.substr(0, bar);
  if (bar == std::string::npos) return out;
  std::string rest = shape.substr(bar + 1);
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t end = rest.find(',', pos);
    if (end == std::string::npos) end = rest.size();
    const std::string col = rest.substr(pos, end - pos);
    // attnum:name:type:typmod:hasmissing (a name may hold ':' or ',': parse from both ends)
    const size_t first = col.find(':');
    const size_t last3 = col.rfind(':', col.rfind(':', col.rfind(':') - 1) - 1);
    if (first != std::string::npos && last3 != std::string::npos && last3 > first) {
      out[col.substr(0, first)] = col.substr(last3 + 1);
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace

bool ShapeChangeNeedsCopy(const std::string& before, const std::string& after) {
  std::string oid_before, oid_after;
  const auto b = ShapeColumns(before, &oid_before);
  const auto a = ShapeColumns(after, &oid_after);
  if (oid_before != oid_after) return false;  // re-created: the next start judges it
  for (const auto& [attnum, spec] : a) {
    auto it = b.find(attnum);
    if (it == b.end()) {
      if (spec.size() >= 2 && spec.substr(spec.size() - 2) == ":1") return true;  // default
      continue;
    }
    // Same column, other type or typmod: ALTER COLUMN TYPE rewrote the rows.
    const auto type_of = [](const std::string& s) { return s.substr(0, s.rfind(':')); };
    if (type_of(it->second) != type_of(spec)) return true;
  }
  return false;
}

Result<Position> LastPosition(pg::Connection& conn, const PolledTable& t) {
  const auto col = [&](int i) {
    return pg::QuoteIdent(t.relation.columns[static_cast<size_t>(i)].name);
  };
  std::string select = col(t.watermark);
  std::string order = col(t.watermark) + " DESC";
  for (int k : t.relation.key) {
    select += ", " + col(k);
    order += ", " + col(k) + " DESC";
  }
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn.Query("SELECT " + select + " FROM " + t.quoted + " WHERE " +
                                   col(t.watermark) + " IS NOT NULL ORDER BY " + order +
                                   " LIMIT 1"));
  Position p;
  if (r.rows.empty()) return p;
  p.watermark = r.rows[0][0];
  for (size_t i = 1; i < r.rows[0].size(); ++i) p.key.push_back(r.rows[0][i].value_or(""));
  return p;
}

bool WatermarkTypeSupported(uint32_t type_oid) {
  using namespace pg::oid;
  return type_oid == kInt2 || type_oid == kInt4 || type_oid == kInt8 || type_oid == kNumeric ||
         type_oid == kDate || type_oid == kTimestamp || type_oid == kTimestamptz;
}

TablePoller::TablePoller(PolledTable table, PollerOptions options, coord::Coordinator* coord,
                         std::shared_ptr<io::FileIO> io)
    : table_(std::move(table)),
      o_(std::move(options)),
      coord_(coord),
      io_(std::move(io)),
      clock_(o_.clock != nullptr ? o_.clock : Clock::Real()) {}

Status TablePoller::Load() {
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> text, coord_->GetMeta(ProgressKey(table_.name)));
  if (text && !text->empty()) {
    auto p = DecodeProgress(*text);
    if (!p.ok()) return p.status().WithContext(table_.name);
    progress_ = std::move(*p);
  } else {
    progress_ = Progress{};
    // initial_offset: after every row of that watermark.
    if (!o_.initial_offset.empty()) progress_.cursor.watermark = o_.initial_offset;
    progress_.history.emplace_back(UnixMillis(clock_), progress_.cursor);
    progress_.last_sweep_ms = UnixMillis(clock_);
    // Recorded at once: `status` shows the table polled, and the start it polls from stays.
    PG2I_RETURN_IF_ERROR(coord_->SetMeta(ProgressKey(table_.name), EncodeProgress(progress_)));
  }
  next_due_ = clock_->Monotonic();
  return Status::Ok();
}

Result<Lsn> TablePoller::CurrentLsn(pg::Connection& conn) {
  PG2I_ASSIGN_OR_RETURN(std::string text,
                        conn.QueryScalar("SELECT CASE WHEN pg_is_in_recovery() THEN "
                                         "pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END"));
  if (text.empty()) return Lsn();
  return Lsn::Parse(text);
}

Position TablePoller::PositionOf(const std::vector<std::optional<std::string>>& row) const {
  Position p;
  p.watermark = row[static_cast<size_t>(table_.watermark)];
  for (int k : table_.relation.key) p.key.push_back(row[static_cast<size_t>(k)].value_or(""));
  return p;
}

namespace {

// "(w, k1, k2)" of the columns, prefixed by `alias`.
std::string Tuple(const PolledTable& t, const std::string& alias) {
  std::string out = alias + pg::QuoteIdent(t.relation.columns[static_cast<size_t>(t.watermark)].name);
  for (int k : t.relation.key) {
    out += ", " + alias + pg::QuoteIdent(t.relation.columns[static_cast<size_t>(k)].name);
  }
  return out;
}

// A condition "rows after `p`" (`op` ">") or "rows at or before `p`" (`op` "<="), its text
// parameters appended to `params`.
std::string Condition(const PolledTable& t, const std::string& alias, const Position& p,
                      const char* op, std::vector<std::optional<std::string>>* params) {
  const std::string w =
      alias + pg::QuoteIdent(t.relation.columns[static_cast<size_t>(t.watermark)].name);
  const std::string wtype = t.sql_types[static_cast<size_t>(t.watermark)];
  auto param = [&](const std::string& v, const std::string& type) {
    params->push_back(v);
    return "$" + std::to_string(params->size()) + "::" + type;
  };
  if (!p.watermark) {
    return std::string(op) == ">" ? w + " IS NOT NULL" : "false";
  }
  if (p.key.empty()) {  // before every row of the watermark
    return w + (std::string(op) == ">" ? " >= " : " < ") + param(*p.watermark, wtype);
  }
  std::string rhs = param(*p.watermark, wtype);
  for (size_t i = 0; i < t.relation.key.size() && i < p.key.size(); ++i) {
    const int k = t.relation.key[i];
    rhs += ", " + param(p.key[i], t.sql_types[static_cast<size_t>(k)]);
  }
  return "(" + Tuple(t, alias) + ") " + op + " (" + rhs + ")";
}

}  // namespace

Result<TablePoller::Page> TablePoller::ReadPage(pg::Connection& conn, const Position& after,
                                                const std::optional<Position>& upto, Lsn lsn,
                                                int limit, const std::string& extra) {
  std::string cols;
  for (const auto& c : table_.relation.columns) {
    cols += (cols.empty() ? "" : ", ") + std::string("q.") + pg::QuoteIdent(c.name);
  }
  std::vector<std::optional<std::string>> params;
  std::string where = Condition(table_, "q.", after, ">", &params);
  if (upto) where += " AND " + Condition(table_, "q.", *upto, "<=", &params);
  if (!extra.empty()) where += " AND " + extra;
  const std::string order = " ORDER BY " + Tuple(table_, "q.");
  const bool custom = !o_.custom_query.empty();
  std::string sql;
  if (!custom) {
    sql = "SELECT " + cols + " FROM " + table_.quoted + " q WHERE " + where + order + " LIMIT " +
          std::to_string(limit);
  } else {
    // $1: the last watermark read (NULL before the first), $2: the page size. Which rows are
    // past the cursor is asked of PostgreSQL (its collations), on every row the query returns:
    // how many it returned says whether the page was full.
    std::vector<std::optional<std::string>> custom_params = {after.watermark,
                                                             std::to_string(limit)};
    where = Condition(table_, "q.", after, ">", &custom_params);
    if (upto) where += " AND " + Condition(table_, "q.", *upto, "<=", &custom_params);
    params = std::move(custom_params);
    sql = "SELECT " + cols + ", (" + where + ") AS pg2i_ahead FROM (" + o_.custom_query +
          ") q" + order;
  }
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r, conn.QueryNullable(sql, params));
  Page page;
  page.full = static_cast<int>(r.rows.size()) >= limit;
  page.last = after;
  const auto& rel = table_.relation;
  const size_t width = rel.columns.size() + (custom ? 1 : 0);
  // A full page of a custom query (ordered by the watermark only) may hold part of the rows at
  // its last watermark: those are read again by the next page, whole.
  std::optional<std::string> partial;
  if (custom && page.full && !r.rows.empty()) {
    partial = r.rows.back()[static_cast<size_t>(table_.watermark)];
  }
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             clock_->Now().time_since_epoch())
                             .count();
  for (auto& row : r.rows) {
    if (row.size() != width) {
      return InvalidArgument(table_.name + ": the query returned " + std::to_string(row.size()) +
                             " columns, expected " + std::to_string(width));
    }
    if (custom) {
      const bool ahead = row.back() && *row.back() == "t";
      row.pop_back();
      if (!ahead) continue;
      if (partial && row[static_cast<size_t>(table_.watermark)] == *partial) break;
    }
    stage::StagedChange sc;
    sc.change.op = fold::Op::kInsert;  // an insert of a live key is an update (fold.h)
    sc.change.commit_lsn = lsn;
    sc.change.seq = seq_++;
    sc.commit_ts_micros = now_us;
    sc.change.values.resize(rel.columns.size());
    for (size_t k = 0; k < rel.columns.size(); ++k) {
      if (!row[k]) continue;
      auto v = pg::ParseText(rel.columns[k].type, rel.columns[k].type_oid, *row[k]);
      if (!v.ok()) return v.status().WithContext(table_.name + "." + rel.columns[k].name);
      sc.change.values[k] = std::move(*v);
    }
    page.changes.push_back(std::move(sc));
    page.digests.push_back(Digest(row));
    page.last = PositionOf(row);
  }
  return page;
}

Result<TablePoller::Page> TablePoller::ReadNext(pg::Connection& conn, const Position& after,
                                                const std::optional<Position>& upto, Lsn lsn,
                                                const std::string& extra) {
  int limit = o_.batch_size;
  while (true) {
    Result<Page> read = ReadPage(conn, after, upto, lsn, limit, extra);
    if (!read.ok()) {
      // A column dropped or renamed since the table was described fails the query: a shape
      // change, not an error.
      PG2I_ASSIGN_OR_RETURN(const bool holds, ShapeHolds(conn));
      if (!holds) return Page{};
      return read.status();
    }
    Page page = std::move(*read);
    // A full page of a custom query with no row it could keep (rows sharing one watermark,
    // more of them than the page holds): ask for more rows.
    if (!o_.custom_query.empty() && page.changes.empty() && page.full && limit < (1 << 26)) {
      limit *= 2;
      continue;
    }
    return page;
  }
}

Result<bool> TablePoller::ShapeHolds(pg::Connection& conn) {
  if (table_.shape.empty()) return true;  // described without one (tests)
  PG2I_ASSIGN_OR_RETURN(std::string now, TableShape(conn, table_.schema, table_.table));
  if (now == table_.shape) return true;
  if (now.empty()) shape_gone_ = true;
  shape_now_ = now;
  log::Info("the table's columns changed: the page read is not staged; starting again to "
            "describe the table anew",
            {{"table", table_.name}});
  return false;
}

Status TablePoller::Stage(const std::vector<stage::StagedChange>& changes, const Progress& next) {
  coord::StagedThrough through;
  through.meta[ProgressKey(table_.name)] = EncodeProgress(next);
  std::vector<coord::StagedFile> files;
  if (!changes.empty()) {
    PG2I_ASSIGN_OR_RETURN(std::string bytes, stage::EncodeStagedFile(table_.relation, changes));
    const std::string uri = io::NewStagedUri(o_.staging_uri, table_.name, io::StagedKind::kChanges);
    PG2I_RETURN_IF_ERROR(io_->WriteAll(uri, bytes));
    coord::StagedFile f;
    f.table = table_.name;
    f.uri = uri;
    f.rows = static_cast<int64_t>(changes.size());
    f.bytes = static_cast<int64_t>(bytes.size());
    f.min_commit_lsn = changes.front().change.commit_lsn;
    f.max_commit_lsn = changes.back().change.commit_lsn;
    files.push_back(std::move(f));
    CrashPoint("after_staging_upload");
  }
  if (files.empty()) {  // ClaimOffsets writes nothing without files
    PG2I_RETURN_IF_ERROR(coord_->SetMeta(ProgressKey(table_.name), EncodeProgress(next)));
  } else {
    PG2I_RETURN_IF_ERROR(coord_->ClaimOffsets(files, through).status());
  }
  CrashPoint("after_offset_claim");
  auto& reg = metrics::Default();
  const metrics::Labels l = {{"table", table_.name}};
  for (const auto& f : files) {
    reg.GetCounter("pg2iceberg_staged_rows_total", "Changes staged and registered, per table", l)
        .Add(static_cast<double>(f.rows));
    reg.GetCounter("pg2iceberg_staged_bytes_total", "Bytes of staged files registered, per table",
                   l)
        .Add(static_cast<double>(f.bytes));
    reg.GetCounter("pg2iceberg_staged_files_total", "Staged files registered, per table", l).Add();
  }
  progress_ = next;
  return Status::Ok();
}

void TablePoller::Remember(const std::vector<uint64_t>& digests, int64_t now_ms) {
  if (o_.lookback.count() <= 0) return;
  for (uint64_t d : digests) {
    if (seen_.insert(d).second) seen_order_.emplace_back(now_ms, d);
  }
  // A re-read starts from the cursor of two lookbacks ago: older digests are not needed.
  const int64_t horizon = now_ms - 2 * o_.lookback.count() - o_.lookback.count() / 4;
  while (!seen_order_.empty() && seen_order_.front().first < horizon) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
}

Result<int64_t> TablePoller::Sweep(pg::Connection& conn, int64_t now_ms) {
  // From the newest recorded cursor at least two lookbacks old (else the oldest), back to the
  // start of its watermark: rows committed late with an older watermark lie after it.
  const int64_t window = 2 * o_.lookback.count();
  Position from = progress_.history.empty() ? Position{} : progress_.history.front().second;
  for (const auto& [at, pos] : progress_.history) {
    if (at <= now_ms - window) from = pos;
  }
  from.key.clear();
  const Position upto = progress_.cursor;
  if (!upto.watermark) return 0;
  PG2I_ASSIGN_OR_RETURN(Lsn lsn, CurrentLsn(conn));
  int64_t staged = 0;
  int64_t read = 0;
  Position after = from;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(Page page, ReadNext(conn, after, upto, lsn));
    if (shape_changed()) return staged;
    read += static_cast<int64_t>(page.changes.size());
    if (!page.changes.empty()) {
      PG2I_ASSIGN_OR_RETURN(const bool holds, ShapeHolds(conn));
      if (!holds) return staged;
    }
    std::vector<stage::StagedChange> late;
    std::vector<uint64_t> digests;
    for (size_t i = 0; i < page.changes.size(); ++i) {
      if (seen_.count(page.digests[i]) > 0) continue;
      late.push_back(std::move(page.changes[i]));
      digests.push_back(page.digests[i]);
    }
    if (!late.empty()) {
      PG2I_RETURN_IF_ERROR(Stage(late, progress_));
      Remember(digests, now_ms);
      staged += static_cast<int64_t>(late.size());
    }
    if (!page.full || page.last == after) break;
    after = page.last;
  }
  Progress next = progress_;
  next.last_sweep_ms = now_ms;
  // History older than the window (but the newest such entry) is no longer needed.
  while (next.history.size() > 1 && next.history[1].first <= now_ms - window) {
    next.history.erase(next.history.begin());
  }
  PG2I_RETURN_IF_ERROR(Stage({}, next));
  if (staged > 0) {
    log::Info("late rows re-read", {{"table", table_.name}, {"rows", staged}, {"read", read}});
    metrics::Default()
        .GetCounter("pg2iceberg_query_late_rows_total",
                    "Query mode: rows found by a lookback re-read (committed after the cursor "
                    "passed their watermark)",
                    {{"table", table_.name}})
        .Add(static_cast<double>(staged));
  }
  return staged;
}

Result<int64_t> TablePoller::AfterCopy(pg::Connection& conn, int64_t now_ms) {
  const Progress::AfterCopy ac = *progress_.after_copy;
  const std::string snap = pg::QuoteLiteral(ac.snapshot) + "::pg_snapshot";
  // A snapshot's xmax is one past the latest completed transaction: transactions running at it
  // with larger ids are in no list, hence the id taken after it.
  const std::string later =
      ac.later_xid.empty() ? "pg_snapshot_xmax(" + snap + ")"
                           : pg::QuoteLiteral(ac.later_xid) + "::xid8";
  PG2I_ASSIGN_OR_RETURN(
      std::string running,
      conn.QueryScalar("SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot()) x WHERE x IN "
                       "(SELECT pg_snapshot_xip(" + snap + ")) OR (x >= pg_snapshot_xmax(" +
                       snap + ") AND x <= " + later + ")"));
  if (running != "0") return 0;  // a transaction running at the copy's snapshot still runs
  int64_t staged = 0;
  if (ac.fence.watermark && o_.custom_query.empty()) {
    // Written by a transaction at or after the snapshot's oldest running one (frozen rows are
    // the oldest of all to age()).
    const std::string young =
        "age(q.xmin) <= age(((pg_snapshot_xmin(" + snap +
        ")::text::numeric % 4294967296)::text)::xid)";
    PG2I_ASSIGN_OR_RETURN(Lsn lsn, CurrentLsn(conn));
    Position after;
    while (true) {
      PG2I_ASSIGN_OR_RETURN(Page page, ReadNext(conn, after, ac.fence, lsn, young));
      if (shape_changed()) return staged;
      if (!page.changes.empty()) {
        PG2I_ASSIGN_OR_RETURN(const bool holds, ShapeHolds(conn));
        if (!holds) return staged;
        PG2I_RETURN_IF_ERROR(Stage(page.changes, progress_));
        Remember(page.digests, now_ms);
        staged += static_cast<int64_t>(page.changes.size());
      }
      if (!page.full || page.last == after) break;
      after = page.last;
    }
  }
  Progress next = progress_;
  next.after_copy.reset();
  PG2I_RETURN_IF_ERROR(Stage({}, next));
  log::Info("rows of transactions running at the copy's snapshot read again",
            {{"table", table_.name}, {"rows", staged}});
  return staged;
}

Result<int64_t> TablePoller::Poll(pg::Connection& conn) {
  int64_t staged = 0;
  if (progress_.after_copy) {
    PG2I_ASSIGN_OR_RETURN(staged, AfterCopy(conn, UnixMillis(clock_)));
    if (shape_changed()) return staged;
  }
  bool more = false;
  for (int i = 0; i < o_.max_pages; ++i) {
    PG2I_ASSIGN_OR_RETURN(Lsn lsn, CurrentLsn(conn));
    PG2I_ASSIGN_OR_RETURN(Page page, ReadNext(conn, progress_.cursor, std::nullopt, lsn));
    if (shape_changed()) return staged;
    if (page.changes.empty()) break;
    PG2I_ASSIGN_OR_RETURN(const bool holds, ShapeHolds(conn));
    if (!holds) return staged;
    const int64_t now_ms = UnixMillis(clock_);
    Progress next = progress_;
    next.cursor = page.last;
    // One history entry per quarter lookback at most (none without re-reads).
    const int64_t step = o_.lookback.count() / 4;
    if (step > 0 && (next.history.empty() || now_ms - next.history.back().first >= step)) {
      next.history.emplace_back(now_ms, progress_.cursor);
    }
    PG2I_RETURN_IF_ERROR(Stage(page.changes, next));
    Remember(page.digests, now_ms);
    staged += static_cast<int64_t>(page.changes.size());
    if (!page.full) break;
    more = i + 1 == o_.max_pages;
  }
  const int64_t now_ms = UnixMillis(clock_);
  if (o_.lookback.count() > 0 && now_ms - progress_.last_sweep_ms >= o_.lookback.count()) {
    PG2I_ASSIGN_OR_RETURN(int64_t late, Sweep(conn, now_ms));
    staged += late;
    if (shape_changed()) return staged;
  }
  next_due_ = more ? clock_->Monotonic()
                   : clock_->Monotonic() + std::chrono::duration_cast<Clock::Duration>(o_.poll_interval);
  return staged;
}

}  // namespace pg2iceberg::query

#include "coord/owner.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "base/clock.h"
#include "base/log.h"
#include "pg/catalog.h"

namespace pg2iceberg::coord {
namespace {

std::string Iso(const std::string& column) {
  return "COALESCE(to_char(" + column +
         " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')";
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

// The sessions holding the pipeline's lock, as seen from `conn`'s database.
Result<bool> LockHeld(pg::Connection& conn, const std::string& schema) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn.Query(std::string("WITH k AS (SELECT ") + kOwnerLockKeySql +
                     " AS v) SELECT count(*) FROM pg_locks l, k WHERE l.locktype = 'advisory' "
                     "AND l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM "
                     "pg_database WHERE datname = current_database()) AND "
                     "l.classid::text::bigint = ((k.v >> 32) & 4294967295) AND "
                     "l.objid::text::bigint = (k.v & 4294967295)",
                 {schema}));
  return r.rows.at(0).at(0).value_or("0") != "0";
}

}  // namespace

std::string OwnerInfo::Describe() const {
  if (!recorded) return "an unknown process";
  return command + " pid " + std::to_string(pid) + " on " + host + " since " + started_at;
}

OwnerLease::OwnerLease(std::unique_ptr<pg::Connection> conn, Options options)
    : conn_(std::move(conn)), options_(std::move(options)), host_(HostName()), pid_(getpid()) {}

Result<std::unique_ptr<OwnerLease>> OwnerLease::Acquire(std::unique_ptr<pg::Connection> conn,
                                                        Options options) {
  // If this host vanishes, the server must notice within seconds and release the lock
  // (the defaults would keep a dead session, and the lock, for hours).
  PG2I_RETURN_IF_ERROR(conn->Exec("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
                                  "SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000"));
  const std::string host = HostName();
  for (int attempt = 0;; ++attempt) {
    PG2I_ASSIGN_OR_RETURN(
        pg::QueryResult got,
        conn->Query(std::string("SELECT pg_try_advisory_lock(") + kOwnerLockKeySql + ")::text",
                    {options.schema}));
    if (got.rows.at(0).at(0).value_or("false") == "true") break;
    auto owner = InspectOwner(*conn, options.schema);
    // A process killed a moment ago holds the lock until the server has seen its connection
    // close: wait for that briefly (up to 2 s; 10 s for an owner on this host that is gone).
    const bool dying = owner.ok() && owner->recorded && owner->host == host &&
                       owner->stopped_at.empty() && kill(static_cast<pid_t>(owner->pid), 0) != 0 &&
                       errno == ESRCH;
    if (attempt < (dying ? 100 : 20)) {
      Clock::Real()->SleepFor(std::chrono::milliseconds(100));
      continue;
    }
    const std::string who = owner.ok() ? owner->Describe() : "another process";
    return FailedPrecondition(
        "another pg2iceberg process owns this pipeline (coordinator schema " + options.schema +
        "): " + who + ". Only one run, stream-only or snapshot may work on a pipeline at a "
        "time: stop that one first, or give this one its own state.coordinator_schema, "
        "source.logical.slot_name and source.logical.publication_name");
  }
  return std::unique_ptr<OwnerLease>(new OwnerLease(std::move(conn), std::move(options)));
}

OwnerLease::~OwnerLease() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (beater_.joinable()) beater_.join();
  // Closing the session releases the advisory lock.
}

Status OwnerLease::Register() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    PG2I_RETURN_IF_ERROR(
        conn_
            ->Query("INSERT INTO " + pg::QuoteIdent(options_.schema) +
                        ".owner (id, host, pid, command, started_at, heartbeat_at, stopped_at, "
                        "last_error) VALUES (1, $1, $2, $3, now(), now(), NULL, NULL) ON "
                        "CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, "
                        "command = EXCLUDED.command, started_at = now(), heartbeat_at = now(), "
                        "stopped_at = NULL, last_error = NULL",
                    {host_, std::to_string(pid_), options_.command})
            .status());
  }
  beater_ = std::thread([this] { BeatLoop(); });
  return Status::Ok();
}

Status OwnerLease::BeatOnce() {
  PG2I_RETURN_IF_ERROR(conn_->Exec("UPDATE " + pg::QuoteIdent(options_.schema) +
                                   ".owner SET heartbeat_at = now() WHERE id = 1"));
  PG2I_ASSIGN_OR_RETURN(std::string held,
                        conn_->QueryScalar("SELECT count(*) FROM pg_locks WHERE pid = "
                                           "pg_backend_pid() AND locktype = 'advisory' AND "
                                           "granted"));
  if (held == "0") return Aborted("the pipeline's ownership lock is no longer held");
  return Status::Ok();
}

Status OwnerLease::Check() {
  std::lock_guard<std::mutex> lock(mu_);
  return BeatOnce();
}

void OwnerLease::BeatLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.beat, [this] { return stopping_; });
    if (stopping_) break;
    Status s = BeatOnce();
    if (s.ok()) continue;
    // The session that held the lock is gone (or cannot be used): another process may own
    // the pipeline now, so this one must stop.
    log::Error("lost ownership of the pipeline", {{"error", s.message()}});
    if (options_.on_lost) {
      options_.on_lost(Unavailable("lost the pipeline's ownership session (" + s.message() +
                                   "); the pipeline stops until this process owns it again, so that no "
                                   "two processes write it"));
    }
    return;
  }
}

void OwnerLease::RecordProblem(const std::string& problem) {
  std::lock_guard<std::mutex> lock(mu_);
  Status s = conn_
                 ->Query("UPDATE " + pg::QuoteIdent(options_.schema) +
                             ".owner SET last_error = NULLIF($1, '') WHERE id = 1 AND pid = $2 "
                             "AND stopped_at IS NULL",
                         {problem, std::to_string(pid_)})
                 .status();
  if (!s.ok()) log::Debug("could not record the problem in the owner row", {{"error", s.message()}});
}

void OwnerLease::RecordStop(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  Status s = conn_
                 ->Query("UPDATE " + pg::QuoteIdent(options_.schema) +
                             ".owner SET stopped_at = now(), heartbeat_at = now(), last_error = "
                             "NULLIF($1, '') WHERE id = 1 AND pid = $2",
                         {error, std::to_string(pid_)})
                 .status();
  if (!s.ok()) log::Warn("could not record the stop in the owner row", {{"error", s.message()}});
}

Result<OwnerInfo> InspectOwner(pg::Connection& conn, const std::string& schema) {
  OwnerInfo info;
  PG2I_ASSIGN_OR_RETURN(info.alive, LockHeld(conn, schema));
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult has_table,
      conn.Query("SELECT (to_regclass(quote_ident($1) || '.owner') IS NOT NULL)::text", {schema}));
  if (has_table.rows.at(0).at(0).value_or("false") != "true") return info;
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn.Query("SELECT host, pid, command, " + Iso("started_at") + ", " + Iso("heartbeat_at") +
                 ", extract(epoch FROM now() - heartbeat_at)::float8, " + Iso("stopped_at") +
                 ", COALESCE(last_error, '') FROM " + pg::QuoteIdent(schema) +
                 ".owner WHERE id = 1"));
  if (r.rows.empty()) return info;
  const auto& row = r.rows[0];
  info.recorded = true;
  info.host = row[0].value_or("");
  info.pid = std::stoll(row[1].value_or("0"));
  info.command = row[2].value_or("");
  info.started_at = row[3].value_or("");
  info.heartbeat_at = row[4].value_or("");
  info.heartbeat_age_seconds = std::stod(row[5].value_or("0"));
  info.stopped_at = row[6].value_or("");
  info.last_error = row[7].value_or("");
  return info;
}

namespace {
constexpr const char* kWorkerLockKeySql = "hashtextextended('pg2iceberg worker:' || $1, 0)";
}  // namespace

Result<std::unique_ptr<WorkerLock>> WorkerLock::Acquire(std::unique_ptr<pg::Connection> conn,
                                                        const std::string& schema,
                                                        const std::string& group,
                                                        const std::string& worker) {
  PG2I_RETURN_IF_ERROR(conn->Exec("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
                                  "SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000"));
  const std::string key = schema + "/" + group + "/" + worker;
  // A process with this id killed a moment ago holds the lock until the server has seen its
  // connection close: try for 2 s.
  for (int attempt = 0; attempt < 20; ++attempt) {
    PG2I_ASSIGN_OR_RETURN(
        pg::QueryResult got,
        conn->Query(std::string("SELECT pg_try_advisory_lock(") + kWorkerLockKeySql + ")::text",
                    {key}));
    if (got.rows.at(0).at(0).value_or("false") == "true") {
      return std::unique_ptr<WorkerLock>(new WorkerLock(std::move(conn)));
    }
    Clock::Real()->SleepFor(std::chrono::milliseconds(100));
  }
  return FailedPrecondition(
      "another materializer worker with id " + worker + " is running in group " + group +
      " (coordinator schema " + schema + "); give every worker its own --worker-id");
}

Status WorkerLock::Check() {
  // The lock's connection holds nothing else.
  PG2I_ASSIGN_OR_RETURN(std::string held,
                        conn_->QueryScalar("SELECT count(*) FROM pg_locks WHERE pid = "
                                           "pg_backend_pid() AND locktype = 'advisory' AND "
                                           "granted"));
  if (held == "0") {
    return Unavailable("this worker's lock on its id was lost (the coordinator's session ended)");
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::coord

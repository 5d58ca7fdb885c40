// One owner per pipeline. The process that runs `run`, `stream-only` or `snapshot` holds a
// PostgreSQL session-level advisory lock, keyed by the coordinator schema, on a connection of
// its own for its whole life, and describes itself in `<schema>.owner` (host, pid, command,
// since, heartbeat, and the error it stopped with). PostgreSQL releases the lock the moment
// that session ends, however the process ended (SIGKILL included), so "is a pipeline process
// alive?" is answered by the lock, and "which one, and why did it stop?" by the row.
//
// Contract:
//   - OwnerLease::Acquire takes the lock before anything else is created; a second process
//     gets FailedPrecondition naming the owner (host, pid, command, since).
//   - Register() (after the coordinator schema exists) writes the owner row; a thread then
//     beats every `beat` and checks the lock is still held. Losing the session (PostgreSQL
//     restarted, connection cut) calls `on_lost` once: the process must stop, because another
//     one may now own the pipeline.
//   - RecordStop(error) marks a clean stop (empty error) or a failure; the destructor closes the
//     session, which releases the lock.
//   - InspectOwner is read-only: it never takes the lock (a status call cannot make a starting
//     process fail).
// Thread-safe: the lease's connection is guarded by its own mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/status.h"
#include "pg/connection.h"

namespace pg2iceberg::coord {

struct OwnerInfo {
  bool alive = false;     // some session holds the pipeline's lock right now
  bool recorded = false;  // an owner row exists (the fields below are from it)
  std::string host;
  int64_t pid = 0;
  std::string command;       // run | stream-only | snapshot
  std::string started_at;    // ISO 8601 UTC, "" if unknown
  std::string heartbeat_at;  // ISO 8601 UTC
  double heartbeat_age_seconds = 0;
  std::string stopped_at;    // "" while running or after a crash
  std::string last_error;    // the error the process stopped with ("" for a clean stop)

  // "run pid 123 on host db-1 since 2026-12-05T10:00:00Z" (or "an unknown process").
  std::string Describe() const;
};

class OwnerLease {
 public:
  struct Options {
    std::string schema;   // coordinator schema: the lock's key and where the row lives
    std::string command;  // run | stream-only | snapshot
    std::chrono::milliseconds beat{std::chrono::seconds(5)};
    std::function<void(const Status&)> on_lost;
  };

  static Result<std::unique_ptr<OwnerLease>> Acquire(std::unique_ptr<pg::Connection> conn,
                                                     Options options);
  ~OwnerLease();
  OwnerLease(const OwnerLease&) = delete;
  OwnerLease& operator=(const OwnerLease&) = delete;

  // Writes the owner row (the schema must exist: call after Coordinator::Migrate) and starts
  // the heartbeat thread.
  Status Register();
  // Beats once now: OK while this process still holds the lock on a working session.
  Status Check();
  // While running: the transient fault being retried ("" once it is over), shown by `status`.
  // Best effort.
  void RecordProblem(const std::string& problem);
  // Records how the process stopped: `error` empty for a clean stop. Best effort.
  void RecordStop(const std::string& error);

 private:
  OwnerLease(std::unique_ptr<pg::Connection> conn, Options options);
  void BeatLoop();
  Status BeatOnce();

  std::mutex mu_;
  std::unique_ptr<pg::Connection> conn_;
  Options options_;
  std::string host_;
  int64_t pid_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread beater_;
};

// Who owns the pipeline of `schema` (read-only). A missing schema or owner table is "nobody".
Result<OwnerInfo> InspectOwner(pg::Connection& conn, const std::string& schema);

// One process per materializer worker id: a `materializer-only --worker-id ID` process holds a
// session-level advisory lock keyed by the coordinator schema, the group and the id, on a
// connection of its own for its whole life (released by PostgreSQL however the process ends).
// A second process with the same id gets FailedPrecondition: two workers under one id would
// both believe they hold the same share of the tables.
class WorkerLock {
 public:
  static Result<std::unique_ptr<WorkerLock>> Acquire(std::unique_ptr<pg::Connection> conn,
                                                     const std::string& schema,
                                                     const std::string& group,
                                                     const std::string& worker);
  // OK while this process still holds the lock on a working session.
  Status Check();

 private:
  explicit WorkerLock(std::unique_ptr<pg::Connection> conn) : conn_(std::move(conn)) {}
  std::unique_ptr<pg::Connection> conn_;
};

// The advisory-lock key of a coordinator schema (a SQL expression over parameter $1).
inline constexpr const char* kOwnerLockKeySql = "hashtextextended('pg2iceberg owner:' || $1, 0)";

}  // namespace pg2iceberg::coord

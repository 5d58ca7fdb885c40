// Commit notifications (notifications.*; docs/notifications.md): after each Iceberg commit to
// a replicated table, an event per snapshot to each configured sink (webhook, NOTIFY), in commit
// order per table, at least once.
//
// Events are derived from the tables' metadata, not queued in memory: the progress of each sink
// on each table (the table's uuid and the last sequence number delivered) is kept in the
// coordinator, so a crash, a restart or a receiver that is down for an hour loses nothing; what
// is pending is the table's own history. A sink that fails is retried with backoff (1 s doubling
// to `max_backoff`), logged and counted, while the others and replication go on: the service
// runs on its own thread, and the materializer only nudges it. Snapshots expired before they
// were announced are logged and counted as skipped. Not thread-safe except CommitSignal.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "catalog/catalog.h"
#include "coord/coordinator.h"
#include "notify/sinks.h"
#include "pipeline/supervisor.h"

namespace pg2iceberg::pipeline {

// Tables committed to since the notifier last looked: materializer lanes add, the notifier
// takes. Thread-safe.
class CommitSignal {
 public:
  void Add(const std::string& table);
  std::set<std::string> Take();
  bool pending() const { return pending_.load(); }

 private:
  mutable std::mutex mu_;
  std::set<std::string> tables_;
  std::atomic<bool> pending_{false};
};

struct NotifyTarget {
  std::string table;  // the configured source table
  catalog::TableIdent ident;
};

struct NotificationOptions {
  // Every table is looked at this often (commits this process did not make: compactions,
  // materializer-only workers); the ones it committed to, at once.
  Clock::Duration poll_interval = std::chrono::seconds(10);
  Clock::Duration max_backoff = std::chrono::seconds(30);
};

// Records, for each of `sinks` (names) not configured before, that commits from now on are
// announced. Call it before the attempt's services start, so that no commit of theirs is
// older than the start (the service does it too, for a sink added to a running process).
Status RecordNotificationStart(coord::Coordinator& coord, const std::vector<std::string>& sinks,
                               Clock* clock);

class NotificationService {
 public:
  NotificationService(catalog::Catalog* catalog, coord::Coordinator* coord,
                      std::vector<std::unique_ptr<notify::EventSink>> sinks, Clock* clock,
                      NotificationOptions options);

  // Announces what `targets` committed that the sinks have not had yet, every sink in its turn;
  // a sink waiting after a failure is skipped. Errors of the catalog or the coordinator are
  // logged and counted (the next round tries again).
  void Round(const std::vector<NotifyTarget>& targets);
  // Rounds until `sup` stops: every poll interval over all targets, at once over the tables
  // `signal` names.
  void Run(const Supervisor& sup, CommitSignal* signal,
           const std::function<std::vector<NotifyTarget>()>& targets);

 private:
  struct Position {
    std::string uuid;   // of the table the sequence number belongs to
    int64_t sequence = 0;
  };
  struct SinkState {
    std::unique_ptr<notify::EventSink> sink;
    std::optional<int64_t> since_ms;  // commits before the sink was first configured are not sent
    int failures = 0;                 // in a row
    Clock::MonoTime next_try{};
  };

  Status Announce(SinkState& s, const NotifyTarget& target, const iceberg::TableMetadata& m);
  Result<Position> PositionOf(SinkState& s, const std::string& iceberg_table);
  Result<int64_t> SinceOf(SinkState& s);
  void Failed(SinkState& s, const Status& error);

  catalog::Catalog* catalog_;
  coord::Coordinator* coord_;
  std::vector<SinkState> sinks_;
  Clock* clock_;
  NotificationOptions o_;
  std::map<std::string, Position> positions_;  // "<sink>.<iceberg table>"
};

}  // namespace pg2iceberg::pipeline

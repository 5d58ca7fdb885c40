#include "pipeline/notification_service.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>

#include "base/log.h"
#include "base/metrics.h"

namespace pg2iceberg::pipeline {

using namespace std::chrono_literals;

namespace {

std::string PositionKey(const std::string& sink, const std::string& iceberg_table) {
  return "notify." + sink + ".table." + iceberg_table;
}

void Count(const char* name, const char* help, const std::string& sink, double n = 1) {
  metrics::Default().GetCounter(name, help, {{"sink", sink}}).Add(n);
}

}  // namespace

void CommitSignal::Add(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  tables_.insert(table);
  pending_ = true;
}

std::set<std::string> CommitSignal::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  pending_ = false;
  return std::exchange(tables_, {});
}

NotificationService::NotificationService(catalog::Catalog* catalog, coord::Coordinator* coord,
                                         std::vector<std::unique_ptr<notify::EventSink>> sinks,
                                         Clock* clock, NotificationOptions options)
    : catalog_(catalog), coord_(coord), clock_(clock), o_(options) {
  for (auto& s : sinks) sinks_.push_back(SinkState{std::move(s)});
}

namespace {

std::string SinceKey(const std::string& sink) { return "notify." + sink + ".since"; }

}  // namespace

Status RecordNotificationStart(coord::Coordinator& coord, const std::vector<std::string>& sinks,
                               Clock* clock) {
  for (const std::string& sink : sinks) {
    PG2I_ASSIGN_OR_RETURN(std::optional<std::string> stored, coord.GetMeta(SinceKey(sink)));
    if (stored) continue;
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock->Now().time_since_epoch())
            .count();
    PG2I_RETURN_IF_ERROR(coord.SetMeta(SinceKey(sink), std::to_string(now_ms)));
    log::Info("commit notifications start: commits from now on are announced", {{"sink", sink}});
  }
  return Status::Ok();
}

Result<int64_t> NotificationService::SinceOf(SinkState& s) {
  if (s.since_ms) return *s.since_ms;
  PG2I_RETURN_IF_ERROR(RecordNotificationStart(*coord_, {s.sink->name()}, clock_));
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                        coord_->GetMeta(SinceKey(s.sink->name())));
  if (!stored) return Internal("the start of commit notifications was not recorded");
  s.since_ms = std::strtoll(stored->c_str(), nullptr, 10);
  return *s.since_ms;
}

Result<NotificationService::Position> NotificationService::PositionOf(
    SinkState& s, const std::string& iceberg_table) {
  const std::string key = PositionKey(s.sink->name(), iceberg_table);
  auto it = positions_.find(key);
  if (it != positions_.end()) return it->second;
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> stored, coord_->GetMeta(key));
  Position p;
  if (stored) {
    const size_t space = stored->find(' ');
    p.uuid = stored->substr(0, space);
    if (space != std::string::npos) p.sequence = std::strtoll(stored->c_str() + space + 1, nullptr, 10);
  }
  positions_[key] = p;
  return p;
}

void NotificationService::Failed(SinkState& s, const Status& error) {
  ++s.failures;
  Clock::Duration delay = 1s;
  for (int i = 1; i < s.failures && delay < o_.max_backoff; ++i) delay *= 2;
  delay = std::min(delay, o_.max_backoff);
  s.next_try = clock_->Monotonic() + delay;
  Count("pg2iceberg_notification_failures_total",
        "Commit events a sink did not take (each is retried)", s.sink->name());
  log::Warn("commit notification not delivered; retrying, replication goes on",
            {{"sink", s.sink->name()},
             {"failures_in_a_row", static_cast<int64_t>(s.failures)},
             {"retry_in_s", static_cast<int64_t>(
                                std::chrono::duration_cast<std::chrono::seconds>(delay).count())},
             {"error", error.ToString()}});
}

Status NotificationService::Announce(SinkState& s, const NotifyTarget& target,
                                     const iceberg::TableMetadata& m) {
  const std::string name = target.ident.ToString();
  PG2I_ASSIGN_OR_RETURN(const int64_t since, SinceOf(s));
  PG2I_ASSIGN_OR_RETURN(Position pos, PositionOf(s, name));
  if (pos.uuid != m.table_uuid) pos = Position{m.table_uuid, 0};  // a new table (re-created)
  std::vector<notify::CommitEvent> events =
      notify::EventsAfter(m, pos.sequence, since, target.table, name);
  if (!events.empty() && pos.sequence > 0 && events.front().sequence_number > pos.sequence + 1) {
    const int64_t skipped = events.front().sequence_number - pos.sequence - 1;
    Count("pg2iceberg_notifications_skipped_total",
          "Commits expired from the table before their event was delivered", s.sink->name(),
          static_cast<double>(skipped));
    log::Warn("commits expired before their notification was delivered; not announced",
              {{"sink", s.sink->name()}, {"table", name}, {"commits", skipped}});
  }
  for (const notify::CommitEvent& e : events) {
    Status delivered = s.sink->Deliver(e);
    if (!delivered.ok()) return delivered;
    if (s.failures > 0) {
      log::Info("commit notifications delivered again", {{"sink", s.sink->name()}});
      s.failures = 0;
    }
    pos.sequence = e.sequence_number;
    positions_[PositionKey(s.sink->name(), name)] = pos;
    PG2I_RETURN_IF_ERROR(coord_->SetMeta(PositionKey(s.sink->name(), name),
                                         pos.uuid + " " + std::to_string(pos.sequence)));
    Count("pg2iceberg_notifications_total", "Commit events delivered", s.sink->name());
  }
  return Status::Ok();
}

void NotificationService::Round(const std::vector<NotifyTarget>& targets) {
  for (const NotifyTarget& target : targets) {
    std::optional<catalog::LoadedTable> loaded;
    for (SinkState& s : sinks_) {
      if (s.failures > 0 && clock_->Monotonic() < s.next_try) continue;
      if (!loaded) {
        Result<catalog::LoadedTable> l = catalog_->LoadTable(target.ident);
        if (!l.ok()) {
          if (l.status().code() != StatusCode::kNotFound) {
            metrics::CountError("notifications", l.status().code());
            log::Warn("commit notifications: cannot load the table; trying again later",
                      {{"table", target.ident.ToString()}, {"error", l.status().ToString()}});
          }
          break;
        }
        loaded = std::move(l).value();
      }
      Status st = Announce(s, target, loaded->metadata);
      if (st.ok()) continue;
      if (st.code() == StatusCode::kUnavailable) {
        Failed(s, st);
      } else {
        metrics::CountError("notifications", st.code());
        log::Warn("commit notifications: progress not read or kept; trying again later",
                  {{"sink", s.sink->name()}, {"error", st.ToString()}});
      }
    }
  }
}

void NotificationService::Run(const Supervisor& sup, CommitSignal* signal,
                              const std::function<std::vector<NotifyTarget>()>& targets) {
  Clock::MonoTime next_sweep = clock_->Monotonic();
  while (!sup.stopping()) {
    std::vector<NotifyTarget> all = targets();
    std::vector<NotifyTarget> now;
    if (clock_->Monotonic() >= next_sweep) {
      now = std::move(all);
      signal->Take();
      next_sweep = clock_->Monotonic() + o_.poll_interval;
    } else {
      std::set<std::string> committed = signal->Take();
      for (NotifyTarget& t : all) {
        if (committed.count(t.table)) now.push_back(std::move(t));
      }
    }
    Round(now);
    // A sink that failed is tried again on a full round once its backoff is over.
    for (const SinkState& s : sinks_) {
      if (s.failures > 0) next_sweep = std::min(next_sweep, s.next_try);
    }
    const Clock::Duration wait = std::max<Clock::Duration>(next_sweep - clock_->Monotonic(), 0s);
    sup.Wait(wait, [signal] { return signal->pending(); });
  }
}

}  // namespace pg2iceberg::pipeline

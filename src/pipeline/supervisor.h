// One attempt of the pipeline as supervised services. Each service (the WAL writer, the
// materializer, background compaction, a live copy) runs on its own thread; they share one stop
// signal, which goes up when
//
//   - the process is asked to stop (SIGTERM: the flag given to the constructor),
//   - a service ends with an error (Fail, or an error returned from its body): the first error
//     is the attempt's, every other service sees the stop and winds down,
//   - a service asks for the attempt to be started again (RequestRestart; not an error, e.g. to
//     copy a table a resync asked for).
//
// Services wait through Wait (on the attempt's Clock), so a stop ends any wait within one poll
// and a fake clock drives tests. A service that must outlive the others' stop (the materializer
// commits what the WAL writer flushed on its way out) watches Ended(name) of the service it
// follows. Join waits for every service and returns the first error. An exception escaping a
// service body is turned into an Internal error (a bug) instead of ending the process.
// Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace pg2iceberg::pipeline {

class Supervisor {
 public:
  // `process_stop` may be null (no outside stop).
  Supervisor(Clock* clock, const std::atomic<bool>* process_stop);
  ~Supervisor();  // requests a stop and joins what still runs
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs `body` as service `name` on its own thread. With `critical`, an error it returns
  // stops the attempt (see Fail); otherwise the error only ends that service (the service
  // logs it: background compaction never stops replication).
  void Start(const std::string& name, std::function<Status()> body, bool critical = true);

  // `service` failed with `s`: the first error is the attempt's; everything stops.
  void Fail(const std::string& service, const Status& s);
  void RequestRestart();

  // True once anything above asked for the attempt to end.
  bool stopping() const;
  // An atomic that turns true with stopping(), for code that polls a flag (a copy).
  const std::atomic<bool>& stop_flag() const { return stop_; }
  bool failed() const { return failed_.load(); }
  bool restart_requested() const { return restart_.load(); }
  // Whether service `name` has returned.
  bool Ended(const std::string& name) const;
  Status error() const;

  // Waits `d`, or less when `done` (or the stop) comes first; true when it did.
  bool Wait(Clock::Duration d, const std::function<bool()>& done = {}) const;

  // Waits for every service; the first error (OK when none failed).
  Status Join();

  // Called with the first error, on the failing service's thread (health, metrics).
  std::function<void(const std::string& service, const Status& s)> on_failure;

  Clock* clock() const { return clock_; }

 private:
  void Watch();

  Clock* clock_;
  const std::atomic<bool>* process_stop_;
  std::atomic<bool> stop_{false}, failed_{false}, restart_{false}, joined_{false};
  mutable std::mutex mu_;
  Status error_;
  std::map<std::string, bool> ended_;
  std::vector<std::thread> threads_;
  std::thread watcher_;  // mirrors the process stop into stop_
};

}  // namespace pg2iceberg::pipeline

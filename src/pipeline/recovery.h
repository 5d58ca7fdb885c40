// In-process recovery: which faults are transient, how long to wait before the next attempt,
// and when an outage has lasted too long (`max_outage`). `run` and `stream-only` retry a
// transient fault by starting their pipeline again inside the same process, from what is
// durable (the coordinator and the Iceberg tables), exactly as a restart of the process would;
// faults that need a person (configuration, permissions, refusals, data loss) end the process.
// See docs/operations.md ("Faults and recovery").
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/status.h"

namespace pg2iceberg::pipeline {

// Unavailable (a connection lost or refused, a server restarting, the catalog or object store
// unreachable), CommitStateUnknown and Aborted (a commit's outcome unknown, or a conflict: the
// next attempt reads what is durable), ResourceExhausted (a full disk: space may come back).
bool IsTransient(const Status& s);

class Recovery {
 public:
  struct Options {
    std::chrono::milliseconds initial_backoff{std::chrono::seconds(1)};
    std::chrono::milliseconds max_backoff{std::chrono::seconds(60)};
    std::optional<std::chrono::milliseconds> max_outage;  // nullopt: no limit
    // A value in [0, 1): the backoff is scaled by 0.5 + jitter / 2.
    std::function<double()> jitter;
    Clock* clock = Clock::Real();
  };
  explicit Recovery(Options options);

  // The current attempt has worked: every component came round once. Ends the outage: the
  // next fault starts from the initial backoff.
  void Healthy();

  struct Decision {
    bool retry = false;
    std::chrono::milliseconds wait{0};
    std::chrono::milliseconds outage{0};  // how long the outage has lasted so far
    int attempt = 0;                      // retries in this outage, this one included
    std::string give_up;                  // why not, when !retry
  };
  // The attempt ended with `s` (not OK).
  Decision Failed(const Status& s);

 private:
  Options options_;
  std::optional<Clock::MonoTime> outage_start_;
  int attempt_ = 0;
};

}  // namespace pg2iceberg::pipeline

#include "pipeline/recovery.h"

#include <algorithm>
#include <random>

namespace pg2iceberg::pipeline {

using std::chrono::milliseconds;

bool IsTransient(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kCommitStateUnknown:
    case StatusCode::kAborted:
    case StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

Recovery::Recovery(Options options) : options_(std::move(options)) {
  if (!options_.jitter) {
    options_.jitter = [engine = std::make_shared<std::mt19937_64>(std::random_device{}())]() {
      return std::uniform_real_distribution<double>(0.0, 1.0)(*engine);
    };
  }
}

void Recovery::Healthy() {
  outage_start_.reset();
  attempt_ = 0;
}

Recovery::Decision Recovery::Failed(const Status& s) {
  Decision d;
  const auto now = options_.clock->Monotonic();
  if (!IsTransient(s)) {
    d.give_up = "it needs a person";
    return d;
  }
  if (!outage_start_) outage_start_ = now;
  d.outage = std::chrono::duration_cast<milliseconds>(now - *outage_start_);
  d.attempt = ++attempt_;
  if (options_.max_outage && d.outage >= *options_.max_outage) {
    d.give_up = "max_outage (" + std::to_string(options_.max_outage->count() / 1000) +
                " s) reached";
    return d;
  }
  // initial · 2^(attempt-1), capped, scaled by a jitter in [0.5, 1).
  double base = static_cast<double>(options_.initial_backoff.count());
  for (int i = 1; i < d.attempt && base < static_cast<double>(options_.max_backoff.count()); ++i) {
    base *= 2;
  }
  base = std::min(base, static_cast<double>(options_.max_backoff.count()));
  d.wait = milliseconds(static_cast<int64_t>(base * (0.5 + options_.jitter() / 2)));
  if (options_.max_outage) {
    d.wait = std::min(d.wait, *options_.max_outage - d.outage);
  }
  d.retry = true;
  return d;
}

}  // namespace pg2iceberg::pipeline

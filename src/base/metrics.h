// Process metrics in the Prometheus text exposition format (version 0.0.4).
//
// A Registry holds metric families by name (counter, gauge, histogram), each with any number
// of label sets. Get* returns a reference that stays valid for the registry's lifetime, so a
// hot path looks a metric up once and then only touches atomics. Like the logger, there is
// one process-wide registry (Default()) that every component records into; the composition
// root serves it on metrics_addr (obs/metrics_server.h).
//
// Thread-safe: updates are lock-free (counters, gauges) or take a per-histogram mutex;
// lookups and Render() take the registry mutex. Asking for an existing name with a different
// type or different histogram buckets is a programming error: the call returns a detached
// metric that is never rendered, and logs it once.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace pg2iceberg::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(double v = 1);  // v >= 0; negative values are ignored (a counter never goes down)
  // For collectors that mirror a total kept elsewhere (CPU time): raises the value to `total`.
  void Mirror(double total);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // per bound; the +Inf bucket is `count`
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;  // sorted, finite
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

// Buckets for durations in seconds, from 5 ms to 2 minutes.
const std::vector<double>& DurationBuckets();

class Registry {
 public:
  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          const Labels& labels = {},
                          const std::vector<double>& upper_bounds = DurationBuckets());

  // Called at the start of every Render(), outside the registry lock, to refresh gauges that
  // are cheaper to read on demand (process memory, CPU).
  void AddCollector(std::function<void(Registry&)> collector);

  // The whole registry, families sorted by name and series by labels.
  std::string Render();

  // A series' current value (a histogram's count); nullopt-like NaN when absent. For tests
  // and for the status line.
  double ValueOf(std::string_view name, const Labels& labels = {}) const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::vector<double> bounds;  // histograms
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family* FamilyFor(std::string_view name, std::string_view help, Type type,
                    const std::vector<double>* bounds);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::vector<std::function<void(Registry&)>> collectors_;
  // Detached metrics handed out on a type clash: updated, never rendered.
  std::vector<std::unique_ptr<Counter>> detached_counters_;
  std::vector<std::unique_ptr<Gauge>> detached_gauges_;
  std::vector<std::unique_ptr<Histogram>> detached_histograms_;
};

// The process-wide registry.
Registry& Default();

// Counts an error of `component` by kind (its status code):
// pg2iceberg_errors_total{component="catalog",kind="unavailable"}. Call it where an error is
// retried or ends a component, once per error.
void CountError(std::string_view component, StatusCode code);

// Text format helpers, exposed for tests.
std::string FormatValue(double v);
std::string EscapeLabelValue(std::string_view v);

}  // namespace pg2iceberg::metrics

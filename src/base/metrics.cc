#include "base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/log.h"

namespace pg2iceberg::metrics {

void Counter::Add(double v) {
  if (!(v > 0)) return;
  value_.fetch_add(v, std::memory_order_relaxed);
}

void Counter::Mirror(double total) {
  double cur = value_.load(std::memory_order_relaxed);
  while (total > cur && !value_.compare_exchange_weak(cur, total, std::memory_order_relaxed)) {
  }
}

void Gauge::Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  bounds_.erase(std::remove_if(bounds_.begin(), bounds_.end(),
                               [](double b) { return !std::isfinite(b); }),
                bounds_.end());
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_.assign(bounds_.size(), 0);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  // The first bucket whose upper bound is >= v (Prometheus buckets are "le").
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  std::lock_guard<std::mutex> lock(mu_);
  if (i < counts_.size()) ++counts_[i];
  ++count_;
  sum_ += v;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t running = 0;
  for (uint64_t c : counts_) {
    running += c;
    s.cumulative.push_back(running);
  }
  s.count = count_;
  s.sum = sum_;
  return s;
}

const std::vector<double>& DurationBuckets() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                               1,     2.5,  5,     10,   30,  60,   120};
  return kBuckets;
}

Registry::Family* Registry::FamilyFor(std::string_view name, std::string_view help, Type type,
                                      const std::vector<double>* bounds) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    Family f{type, std::string(help), bounds ? *bounds : std::vector<double>{}, {}, {}, {}};
    if (bounds) f.bounds = Histogram(*bounds).upper_bounds();
    it = families_.emplace(std::string(name), std::move(f)).first;
  }
  Family& f = it->second;
  if (f.type != type || (bounds && Histogram(*bounds).upper_bounds() != f.bounds)) {
    log::Error("metric registered twice with different types or buckets; not exported",
               {{"metric", name}});
    return nullptr;
  }
  return &f;
}

Counter& Registry::GetCounter(std::string_view name, std::string_view help,
                              const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = FamilyFor(name, help, Type::kCounter, nullptr);
  if (f == nullptr) return *detached_counters_.emplace_back(std::make_unique<Counter>());
  auto& slot = f->counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = FamilyFor(name, help, Type::kGauge, nullptr);
  if (f == nullptr) return *detached_gauges_.emplace_back(std::make_unique<Gauge>());
  auto& slot = f->gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::GetHistogram(std::string_view name, std::string_view help,
                                  const Labels& labels, const std::vector<double>& upper_bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = FamilyFor(name, help, Type::kHistogram, &upper_bounds);
  if (f == nullptr) {
    return *detached_histograms_.emplace_back(std::make_unique<Histogram>(upper_bounds));
  }
  auto& slot = f->histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(f->bounds);
  return *slot;
}

void Registry::AddCollector(std::function<void(Registry&)> collector) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, r.ptr);
}

namespace {

// Backslash and newline are escaped in HELP text; label values also escape double quotes.
std::string Escape(std::string_view v, bool quotes) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) { return Escape(v, false); }

}  // namespace

std::string EscapeLabelValue(std::string_view v) { return Escape(v, true); }

namespace {

// {a="x",b="y"} plus an optional extra label (a histogram's le); empty when there are none.
std::string LabelText(const Labels& labels, const char* extra_key = nullptr,
                      const std::string& extra_value = "") {
  if (labels.empty() && extra_key == nullptr) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + EscapeLabelValue(v) + "\"";
    first = false;
  }
  if (extra_key != nullptr) {
    out += (first ? "" : ",") + std::string(extra_key) + "=\"" + extra_value + "\"";
  }
  return out + "}";
}

}  // namespace

std::string Registry::Render() {
  std::vector<std::function<void(Registry&)>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c(*this);

  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    static const char* kTypeNames[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + name + " " + kTypeNames[static_cast<int>(f.type)] + "\n";
    for (const auto& [labels, c] : f.counters) {
      out += name + LabelText(labels) + " " + FormatValue(c->value()) + "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      out += name + LabelText(labels) + " " + FormatValue(g->value()) + "\n";
    }
    for (const auto& [labels, h] : f.histograms) {
      const Histogram::Snapshot s = h->Read();
      for (size_t i = 0; i < s.upper_bounds.size(); ++i) {
        out += name + "_bucket" + LabelText(labels, "le", FormatValue(s.upper_bounds[i])) + " " +
               std::to_string(s.cumulative[i]) + "\n";
      }
      out += name + "_bucket" + LabelText(labels, "le", "+Inf") + " " + std::to_string(s.count) +
             "\n";
      out += name + "_sum" + LabelText(labels) + " " + FormatValue(s.sum) + "\n";
      out += name + "_count" + LabelText(labels) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

double Registry::ValueOf(std::string_view name, const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return std::nan("");
  const Family& f = it->second;
  if (auto c = f.counters.find(labels); c != f.counters.end()) return c->second->value();
  if (auto g = f.gauges.find(labels); g != f.gauges.end()) return g->second->value();
  if (auto h = f.histograms.find(labels); h != f.histograms.end()) {
    return static_cast<double>(h->second->Read().count);
  }
  return std::nan("");
}

Registry& Default() {
  static Registry* registry = new Registry();  // never destroyed: threads may outlive main
  return *registry;
}

void CountError(std::string_view component, StatusCode code) {
  // "CommitStateUnknown" → "commit_state_unknown", as Prometheus label values usually read.
  std::string kind;
  for (char c : StatusCodeName(code)) {
    if (c >= 'A' && c <= 'Z') {
      if (!kind.empty()) kind += '_';
      kind += static_cast<char>(c - 'A' + 'a');
    } else {
      kind += c;
    }
  }
  Default()
      .GetCounter("pg2iceberg_errors_total",
                  "Errors by component and kind (status code), counted where they are retried "
                  "or end the component",
                  {{"component", std::string(component)},
                   {"kind", kind}})
      .Add();
}

}  // namespace pg2iceberg::metrics

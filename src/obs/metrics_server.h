// The observability endpoint on `metrics_addr`: a small HTTP/1.1 server of our own (no
// dependency) answering
//   GET /metrics  the registry in the Prometheus text format (version 0.0.4),
//   GET /healthz  liveness: 200 while no component has failed and no watched loop is stuck,
//   GET /ready    readiness: 200 once changes are streaming (not during start-up or the
//                 initial copy), 503 with the phase otherwise.
// HEAD works like GET without a body; anything else is 405, unknown paths 404. One thread
// serves one request per connection (Connection: close) with a 5 s read deadline, which is
// all a scraper or a probe needs.
//
// Health is shared with the pipeline's threads; every call is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "base/metrics.h"
#include "base/status.h"

namespace pg2iceberg::obs {

class Health {
 public:
  using Steady = std::chrono::steady_clock;

  // The pipeline's phase ("starting", "initial snapshot", "streaming"…); ready tells whether
  // /ready answers 200 in it.
  void SetPhase(std::string phase, bool ready);
  // A component ended with an error: /healthz and /ready answer 503 from now on.
  void SetFailed(std::string why);
  // A loop that must come round at least every `max_silence` (checked by /healthz once the
  // loop has beaten for the first time); Beat() at every turn.
  void Watch(const std::string& loop, std::chrono::seconds max_silence);
  void Beat(const std::string& loop);

  struct Verdict {
    bool ok = false;
    std::string text;
  };
  Verdict Live(Steady::time_point now = Steady::now()) const;
  Verdict Ready(Steady::time_point now = Steady::now()) const;

 private:
  struct Loop {
    std::chrono::seconds max_silence{0};
    std::optional<Steady::time_point> last;
  };
  mutable std::mutex mu_;
  std::string phase_ = "starting";
  bool ready_ = false;
  std::string failed_;
  std::map<std::string, Loop> loops_;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Routes one request; exposed for tests.
HttpReply Route(std::string_view method, std::string_view target, metrics::Registry& registry,
                const Health& health);

// Adds process_* metrics (CPU seconds, resident and peak memory, open descriptors, start
// time) and pg2iceberg_build_info, read from /proc at every scrape.
void RegisterProcessMetrics(metrics::Registry& registry, std::string_view version);

class MetricsServer {
 public:
  // Binds `addr` ("host:port", "[::1]:port", ":port" for every interface; port 0 picks a
  // free one) and starts serving. Errors: InvalidArgument for a malformed address,
  // Unavailable when it cannot be bound (the message names the address and what to do).
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& addr,
                                                      metrics::Registry* registry,
                                                      Health* health);
  ~MetricsServer();  // stops serving and joins the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  MetricsServer(int fd, uint16_t port, metrics::Registry* registry, Health* health);
  void Serve();
  void Handle(int conn);

  int fd_;
  uint16_t port_;
  metrics::Registry* registry_;
  Health* health_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace pg2iceberg::obs

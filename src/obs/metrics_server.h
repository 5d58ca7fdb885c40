// The observability endpoint on `metrics_addr`, served by civetweb (the embedded HTTP server
// Prometheus' C++ client uses), answering
//   GET /metrics  the registry in the Prometheus text format (version 0.0.4),
//   GET /healthz  liveness: 200 while no component has failed and no watched loop is stuck,
//   GET /ready    readiness: 200 once changes are streaming (not during start-up or the
//                 initial copy), 503 with the phase otherwise.
// HEAD works like GET without a body; anything else is 405, unknown paths 404. Route() is the
// whole application: civetweb parses the request and calls it on one of its worker threads.
//
// civetweb gives a connection a worker thread of its own until it is answered, so a client
// that connects and sends nothing holds one. To keep /healthz answering while many such
// connections are open, the server runs kWorkerThreads workers and gives a connection
// kRequestTimeout to deliver its request (headers at most 16 KiB, one request per
// connection); a connection that has not by then is closed (with 400 if it sent a part).
// The workers are only blocked, not busy: a few idle connections cost nothing, and a flood
// of them delays a probe by kRequestTimeout for every kWorkerThreads connections ahead of it.
//
// Health is shared with the pipeline's threads; every call is thread-safe. Route() may run
// on several workers at once (Registry::Render() and Health are thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/metrics.h"
#include "base/status.h"

struct mg_context;     // civetweb
struct mg_connection;  // civetweb

namespace pg2iceberg::obs {

class Health {
 public:
  using Steady = std::chrono::steady_clock;

  // The pipeline's phase ("starting", "initial snapshot", "streaming"…); ready tells whether
  // /ready answers 200 in it.
  void SetPhase(std::string phase, bool ready);
  // A component ended with an error: /healthz and /ready answer 503 from now on.
  void SetFailed(std::string why);
  // A transient fault is being retried: /healthz answers 200 (the process is alive and working
  // on it), /ready 503 with `why`. Forgets the failure and the watched loops of the attempt
  // that ended; the next attempt sets its phase and watches its loops again.
  void SetRecovering(std::string why);
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
  // Worker threads; each serves one connection at a time.
  static constexpr int kWorkerThreads = 128;
  // How long a connection may take to send its request once a worker has taken it up.
  static constexpr std::chrono::milliseconds kRequestTimeout{500};

  // Binds `addr` ("host:port", "[::1]:port", ":port" for every interface; port 0 picks a
  // free one) and starts serving. Errors: InvalidArgument for a malformed address,
  // Unavailable when it cannot be bound (the message names the address and what to do),
  // including an IPv6 address when the civetweb library was built without IPv6.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& addr,
                                                      metrics::Registry* registry,
                                                      Health* health);
  // Stops serving and joins civetweb's threads; takes up to about 2 s (civetweb looks at
  // its stop flag every 2 s), whatever connections are open.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  MetricsServer(metrics::Registry* registry, Health* health);
  static int OnRequest(mg_connection* conn);
  static int OnError(mg_connection* conn, int status, const char* message);
  static int OnLog(const mg_connection* conn, const char* message);

  metrics::Registry* registry_;
  Health* health_;
  mg_context* ctx_ = nullptr;
  uint16_t port_ = 0;
  // civetweb's complaints while starting go into the error Start returns; later ones to
  // the log.
  std::mutex log_mu_;
  bool started_ = false;
  std::string start_log_;
};

}  // namespace pg2iceberg::obs

#include "obs/metrics_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
#include <netdb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/clock.h"
#include "base/log.h"

namespace pg2iceberg::obs {

void Health::SetPhase(std::string phase, bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  phase_ = std::move(phase);
  ready_ = ready;
}

void Health::SetFailed(std::string why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.empty()) failed_ = std::move(why);
}

void Health::SetRecovering(std::string why) {
  std::lock_guard<std::mutex> lock(mu_);
  failed_.clear();
  loops_.clear();
  phase_ = "recovering: " + why;
  ready_ = false;
}

void Health::Watch(const std::string& loop, std::chrono::seconds max_silence) {
  std::lock_guard<std::mutex> lock(mu_);
  loops_[loop].max_silence = max_silence;
}

void Health::Beat(const std::string& loop) {
  const auto now = Steady::now();
  std::lock_guard<std::mutex> lock(mu_);
  loops_[loop].last = now;
}

Health::Verdict Health::Live(Steady::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!failed_.empty()) return {false, "failed: " + failed_ + "\n"};
  for (const auto& [name, loop] : loops_) {
    if (!loop.last || loop.max_silence.count() <= 0) continue;
    const auto silent = std::chrono::duration_cast<std::chrono::seconds>(now - *loop.last);
    if (silent > loop.max_silence) {
      return {false, "stuck: " + name + " has not come round for " +
                         std::to_string(silent.count()) + " s\n"};
    }
  }
  return {true, "ok\n"};
}

Health::Verdict Health::Ready(Steady::time_point now) const {
  Verdict live = Live(now);
  if (!live.ok) return live;
  std::lock_guard<std::mutex> lock(mu_);
  if (!ready_) return {false, "not ready: " + phase_ + "\n"};
  return {true, "ready: " + phase_ + "\n"};
}

HttpReply Route(std::string_view method, std::string_view target, metrics::Registry& registry,
                const Health& health) {
  HttpReply r;
  if (method != "GET" && method != "HEAD") {
    r.status = 405;
    r.body = "only GET and HEAD are supported\n";
    return r;
  }
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/metrics") {
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = registry.Render();
  } else if (path == "/healthz" || path == "/ready") {
    const Health::Verdict v = path == "/healthz" ? health.Live() : health.Ready();
    r.status = v.ok ? 200 : 503;
    r.body = v.text;
  } else if (path == "/") {
    r.body = "pg2iceberg: /metrics /healthz /ready\n";
  } else {
    r.status = 404;
    r.body = "not found; try /metrics, /healthz or /ready\n";
  }
  return r;
}

namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t CountOpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int64_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the descriptor opendir itself holds
}

// "host:port" → host (brackets removed) and port; empty host means every interface.
Status SplitAddr(const std::string& addr, std::string* host, uint16_t* port) {
  const auto colon = addr.rfind(':');
  const std::string_view digits = colon == std::string::npos
                                       ? std::string_view()
                                       : std::string_view(addr).substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      value > 65535) {
    return InvalidArgument("metrics_addr \"" + addr +
                           "\" is not host:port (for example 127.0.0.1:9090)");
  }
  *port = static_cast<uint16_t>(value);
  *host = addr.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return Status::Ok();
}

// civetweb's listening_ports entries for the addresses `host` resolves to, IPv4 first
// ("0.0.0.0:9090", "[::1]:9090"). civetweb gets only numeric addresses written by us: its
// own syntax gives commas and a trailing "s" or "r" a meaning.
Result<std::vector<std::string>> ListeningPorts(const std::string& addr,
                                                const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                              std::to_string(port).c_str(), &hints, &res);
  if (gai != 0) {
    return InvalidArgument("metrics_addr " + addr + ": cannot resolve: " + gai_strerror(gai));
  }
  const bool ipv6 = mg_check_feature(MG_FEATURES_IPV6) != 0;
  std::vector<std::string> ports;
  bool skipped_ipv6 = false;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (ai->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr, text,
                sizeof text);
      ports.push_back(std::string(text) + ":" + std::to_string(port));
    } else if (ai->ai_family == AF_INET6 && !ipv6) {
      skipped_ipv6 = true;
    } else if (ai->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr, text,
                sizeof text);
      ports.push_back("[" + std::string(text) + "]:" + std::to_string(port));
    }
  }
  freeaddrinfo(res);
  if (ports.empty()) {
    return Unavailable("cannot serve metrics on " + addr +
                       (skipped_ipv6 ? ": the civetweb library has no IPv6 support"
                                     : ": no IPv4 or IPv6 address") +
                       "; set metrics_addr to an IPv4 host:port such as 127.0.0.1:9090, or "
                       "to \"\" to turn the endpoint off");
  }
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return ports;
}

void Send(mg_connection* conn, const HttpReply& reply, bool with_body) {
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                    mg_get_response_code_text(conn, reply.status) +
                    "\r\nContent-Type: " + reply.content_type +
                    "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                    "\r\nConnection: close\r\n";
  if (reply.status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (with_body) out += reply.body;
  mg_write(conn, out.data(), out.size());
}

}  // namespace

void RegisterProcessMetrics(metrics::Registry& registry, std::string_view version) {
  registry.GetGauge("pg2iceberg_build_info", "Always 1; the version is a label",
                    {{"version", std::string(version)}})
      .Set(1);
  const double start = std::chrono::duration<double>(
                           Clock::Real()->Now().time_since_epoch())
                           .count();
  registry.GetGauge("process_start_time_seconds", "Start time of the process since the epoch")
      .Set(start);
  registry.AddCollector([](metrics::Registry& r) {
    static const long ticks = sysconf(_SC_CLK_TCK);
    static const long page = sysconf(_SC_PAGESIZE);
    // /proc/self/stat: fields after the command name, which is in parentheses.
    const std::string stat = ReadFile("/proc/self/stat");
    const auto paren = stat.rfind(')');
    if (paren != std::string::npos && ticks > 0) {
      std::istringstream in(stat.substr(paren + 2));
      std::string f;
      std::vector<std::string> fields;
      while (in >> f) fields.push_back(f);
      // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
      if (fields.size() > 13) {
        const double cpu =
            (std::stod(fields[11]) + std::stod(fields[12])) / static_cast<double>(ticks);
        r.GetCounter("process_cpu_seconds_total", "User and system CPU time spent in seconds")
            .Mirror(cpu);
      }
    }
    std::istringstream statm(ReadFile("/proc/self/statm"));
    double size = 0, resident = 0;
    if (statm >> size >> resident) {
      r.GetGauge("process_virtual_memory_bytes", "Virtual memory size in bytes")
          .Set(size * static_cast<double>(page));
      r.GetGauge("process_resident_memory_bytes", "Resident memory size in bytes")
          .Set(resident * static_cast<double>(page));
    }
    rusage ru{};
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
      // The kernel's high-water mark lags the current size a little; never report less.
      r.GetGauge("pg2iceberg_peak_resident_memory_bytes",
                 "Highest resident memory size of the process so far, in bytes")
          .Set(std::max(static_cast<double>(ru.ru_maxrss) * 1024,
                        resident * static_cast<double>(page)));
    }
    const int64_t fds = CountOpenFds();
    if (fds >= 0) {
      r.GetGauge("process_open_fds", "Number of open file descriptors")
          .Set(static_cast<double>(fds));
    }
  });
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& addr,
                                                            metrics::Registry* registry,
                                                            Health* health) {
  std::string host;
  uint16_t port = 0;
  PG2I_RETURN_IF_ERROR(SplitAddr(addr, &host, &port));
  PG2I_ASSIGN_OR_RETURN(const std::vector<std::string> candidates,
                        ListeningPorts(addr, host, port));
  // Once per process, never undone: two first calls racing are not safe in civetweb, and
  // the servers of one process (tests start several) share it. Features 0: no TLS.
  [[maybe_unused]] static const unsigned library = mg_init_library(0);

  const std::string threads = std::to_string(kWorkerThreads);
  const std::string timeout = std::to_string(kRequestTimeout.count());
  std::unique_ptr<MetricsServer> server(new MetricsServer(registry, health));
  mg_callbacks callbacks{};
  callbacks.begin_request = &MetricsServer::OnRequest;
  callbacks.http_error = &MetricsServer::OnError;
  callbacks.log_message = &MetricsServer::OnLog;
  for (const std::string& listening : candidates) {
    const char* options[] = {
        "listening_ports", listening.c_str(),
        "num_threads", threads.c_str(),
        "request_timeout_ms", timeout.c_str(),
        "max_request_size", "16384",
        "enable_keep_alive", "no",
        // Idle connections beyond the workers wait in the kernel's accept queue; room there
        // keeps a probe's connection from being dropped and retried a second later.
        "listen_backlog", "1024",
        nullptr};
    mg_init_data init{&callbacks, server.get(), options};
    char error_text[256] = {};
    unsigned error_code = 0;
    mg_error_data error{&error_code, error_text, sizeof error_text};
    server->ctx_ = mg_start2(&init, &error);
    if (server->ctx_ != nullptr) break;
    std::lock_guard<std::mutex> lock(server->log_mu_);
    if (server->start_log_.empty()) server->start_log_ = error_text;
  }
  if (server->ctx_ == nullptr) {
    std::lock_guard<std::mutex> lock(server->log_mu_);
    return Unavailable("cannot serve metrics on " + addr + ": " + server->start_log_ +
                       "; set metrics_addr to a free host:port, or to \"\" to turn the "
                       "endpoint off");
  }
  {
    std::lock_guard<std::mutex> lock(server->log_mu_);
    server->started_ = true;
  }
  mg_server_port bound{};
  if (mg_get_server_ports(server->ctx_, 1, &bound) == 1) {
    server->port_ = static_cast<uint16_t>(bound.port);
  }
  return server;
}

MetricsServer::MetricsServer(metrics::Registry* registry, Health* health)
    : registry_(registry), health_(health) {}

MetricsServer::~MetricsServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

int MetricsServer::OnRequest(mg_connection* conn) {
  auto* self = static_cast<MetricsServer*>(mg_get_user_data(mg_get_context(conn)));
  const mg_request_info* req = mg_get_request_info(conn);
  const std::string_view method = req->request_method;
  // local_uri is the path without the query, decoded and with dot segments removed.
  const char* path = req->local_uri != nullptr ? req->local_uri : req->request_uri;
  const HttpReply reply = Route(method, path, *self->registry_, *self->health_);
  Send(conn, reply, method != "HEAD");
  return reply.status;  // handled: civetweb sends nothing more
}

int MetricsServer::OnError(mg_connection* conn, int status, const char* message) {
  // Requests civetweb refuses itself (malformed, too large, incomplete in time) get the same
  // plain answer as ours instead of its HTML-ish page with caching headers.
  Send(conn, {status, "text/plain; charset=utf-8", std::string(message) + "\n"}, true);
  return 0;  // handled
}

int MetricsServer::OnLog(const mg_connection* conn, const char* message) {
  auto* self = static_cast<MetricsServer*>(mg_get_user_data(mg_get_context(conn)));
  if (self != nullptr) {
    std::lock_guard<std::mutex> lock(self->log_mu_);
    if (!self->started_) {
      if (self->start_log_.empty()) self->start_log_ = message;
      return 1;
    }
  }
  log::Warn("metrics endpoint", {{"civetweb", message}});
  return 1;  // civetweb writes no log of its own
}

}  // namespace pg2iceberg::obs

#include "obs/metrics_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/log.h"

namespace pg2iceberg::obs {

using namespace std::chrono_literals;

void Health::SetPhase(std::string phase, bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  phase_ = std::move(phase);
  ready_ = ready;
}

void Health::SetFailed(std::string why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.empty()) failed_ = std::move(why);
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

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away; nothing to tell it
    off += static_cast<size_t>(n);
  }
}

// "host:port" → host (brackets removed) and port; empty host means every interface.
Status SplitAddr(const std::string& addr, std::string* host, std::string* port) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 == addr.size()) {
    return InvalidArgument("metrics_addr \"" + addr +
                           "\" is not host:port (for example 127.0.0.1:9090)");
  }
  *host = addr.substr(0, colon);
  *port = addr.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return Status::Ok();
}

}  // namespace

void RegisterProcessMetrics(metrics::Registry& registry, std::string_view version) {
  registry.GetGauge("pg2iceberg_build_info", "Always 1; the version is a label",
                    {{"version", std::string(version)}})
      .Set(1);
  const double start = std::chrono::duration<double>(
                           std::chrono::system_clock::now().time_since_epoch())
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
  std::string host, port;
  PG2I_RETURN_IF_ERROR(SplitAddr(addr, &host, &port));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    return InvalidArgument("metrics_addr " + addr + ": cannot resolve: " + gai_strerror(gai));
  }
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0) break;
    last_error = std::strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    return Unavailable("cannot serve metrics on " + addr + ": " + last_error +
                       "; set metrics_addr to a free host:port, or to \"\" to turn the "
                       "endpoint off");
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t bound_port = bound.ss_family == AF_INET6
                            ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                            : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::unique_ptr<MetricsServer>(new MetricsServer(fd, bound_port, registry, health));
}

MetricsServer::MetricsServer(int fd, uint16_t port, metrics::Registry* registry, Health* health)
    : fd_(fd), port_(port), registry_(registry), health_(health) {
  thread_ = std::thread([this] { Serve(); });
}

MetricsServer::~MetricsServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  close(fd_);
}

void MetricsServer::Serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    const int n = poll(&p, 1, 200);
    if (n <= 0) continue;  // timeout (check stop_) or EINTR
    const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      // Out of descriptors (or the like): the pending connection stays readable, so wait
      // instead of spinning on it.
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        std::this_thread::sleep_for(100ms);
      }
      continue;
    }
    Handle(conn);
    close(conn);
  }
}

void MetricsServer::Handle(int conn) {
  constexpr size_t kMaxRequest = 16 * 1024;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string req;
  HttpReply reply;
  bool head = false;
  while (req.find("\r\n\r\n") == std::string::npos) {
    if (req.size() > kMaxRequest) {
      reply = {431, "text/plain; charset=utf-8", "request too large\n"};
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{conn, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      reply = {408, "text/plain; charset=utf-8", "request not received in time\n"};
      break;
    }
    char buf[4096];
    const ssize_t n = recv(conn, buf, sizeof buf, 0);
    if (n <= 0) return;  // closed before a whole request: nothing to answer
    req.append(buf, static_cast<size_t>(n));
  }
  if (reply.status == 200 && req.find("\r\n\r\n") > kMaxRequest) {
    reply = {431, "text/plain; charset=utf-8", "request too large\n"};
  }
  if (reply.status == 200) {
    // Request line: METHOD SP TARGET SP HTTP/x.y
    const std::string line = req.substr(0, req.find("\r\n"));
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
      reply = {400, "text/plain; charset=utf-8", "malformed request line\n"};
    } else {
      const std::string method = line.substr(0, sp1);
      head = method == "HEAD";
      reply = Route(method, line.substr(sp1 + 1, sp2 - sp1 - 1), *registry_, *health_);
    }
  }
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) +
                    "\r\nContent-Type: " + reply.content_type +
                    "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                    "\r\nConnection: close\r\n";
  if (reply.status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!head) out += reply.body;
  SendAll(conn, out);
  if (reply.status == 400 || reply.status == 408 || reply.status == 431) {
    // Unread request bytes would make close() send a reset that can destroy the answer
    // before the client reads it: end our side, then drain briefly.
    shutdown(conn, SHUT_WR);
    const auto until = std::chrono::steady_clock::now() + 500ms;
    char buf[4096];
    pollfd p{conn, POLLIN, 0};
    while (std::chrono::steady_clock::now() < until && poll(&p, 1, 100) > 0 &&
           recv(conn, buf, sizeof buf, 0) > 0) {
    }
  }
}

}  // namespace pg2iceberg::obs

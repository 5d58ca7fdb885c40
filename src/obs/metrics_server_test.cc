#include "obs/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pg2iceberg::obs {
namespace {

using namespace std::chrono_literals;

using Clock = std::chrono::steady_clock;

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Starts a TCP connection to 127.0.0.1:port without waiting for the handshake; -1 when no
// socket could be made.
int StartConnect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const sockaddr_in a = Loopback(port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

int MillisLeft(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// True once the connection started by StartConnect is established, false at `deadline`.
bool WaitConnected(int fd, Clock::time_point deadline) {
  if (fd < 0) return false;
  pollfd p{fd, POLLOUT, 0};
  int n;
  while ((n = poll(&p, 1, MillisLeft(deadline))) < 0 && errno == EINTR) {
  }
  if (n <= 0) return false;
  int error = 0;
  socklen_t len = sizeof error;
  return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
}

struct Timed {
  std::string answer;
  Clock::duration took{};
};

// Sends `request` as it is to 127.0.0.1:port and returns everything the server answers
// until it closes the connection, giving up (with what came so far) after `timeout`,
// connecting included.
Timed TimedExchange(uint16_t port, const std::string& request, Clock::duration timeout) {
  const auto t0 = Clock::now();
  const auto deadline = t0 + timeout;
  const int fd = StartConnect(port);
  if (!WaitConnected(fd, deadline)) {
    if (fd >= 0) close(fd);
    return {"connect failed", Clock::now() - t0};
  }
  // A request is small enough for the socket buffer, so one send takes it whole.
  if (!request.empty()) send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, MillisLeft(deadline)) > 0) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return {out, Clock::now() - t0};
}

std::string Exchange(uint16_t port, const std::string& request) {
  return TimedExchange(port, request, 15s).answer;
}

std::string Get(uint16_t port, const std::string& path, const std::string& method = "GET") {
  return Exchange(port, method + " " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

// Connections that are opened and then send nothing, as a port scanner, a TCP probe or an
// idle pooled client leaves them.
class IdleConnections {
 public:
  IdleConnections(uint16_t port, int n) {
    for (int i = 0; i < n; ++i) fds_.push_back(StartConnect(port));
  }
  ~IdleConnections() { Close(); }
  IdleConnections(const IdleConnections&) = delete;
  IdleConnections& operator=(const IdleConnections&) = delete;

  // How many of them are established after at most `timeout`.
  int Established(Clock::duration timeout) const {
    const auto deadline = Clock::now() + timeout;
    return static_cast<int>(std::count_if(fds_.begin(), fds_.end(), [&](int fd) {
      return WaitConnected(fd, deadline);
    }));
  }

  void Close() {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

// A client that sends a request line a byte every 100 ms and never finishes it.
class SlowSender {
 public:
  explicit SlowSender(uint16_t port)
      : thread_([port](std::stop_token stop) {
          const int fd = StartConnect(port);
          if (!WaitConnected(fd, Clock::now() + 5s)) {
            if (fd >= 0) close(fd);
            return;
          }
          const std::string line = "GET /metrics?";
          for (size_t i = 0; !stop.stop_requested(); ++i) {
            const char c = i < line.size() ? line[i] : 'x';
            if (send(fd, &c, 1, MSG_NOSIGNAL) != 1 && errno != EAGAIN) break;  // cut off
            for (int t = 0; t < 10 && !stop.stop_requested(); ++t) {
              std::this_thread::sleep_for(10ms);
            }
          }
          close(fd);
        }) {}

 private:
  std::jthread thread_;
};

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = MetricsServer::Start("127.0.0.1:0", &registry_, &health_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    ASSERT_NE(server_->port(), 0);
  }

  metrics::Registry registry_;
  Health health_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesTheRegistryInTheTextFormat) {
  registry_.GetCounter("pg2iceberg_x_total", "X", {{"table", "public.t"}}).Add(7);
  const std::string r = Get(server_->port(), "/metrics?name=x");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\n# HELP pg2iceberg_x_total X\n# TYPE pg2iceberg_x_total counter\n"
                   "pg2iceberg_x_total{table=\"public.t\"} 7\n"),
            std::string::npos)
      << r;
  const std::string body_len = "Content-Length: " + std::to_string(registry_.Render().size());
  EXPECT_NE(r.find(body_len), std::string::npos) << r;
}

TEST_F(MetricsServerTest, HeadHasHeadersOnlyAndOtherMethodsAreRefused) {
  registry_.GetGauge("g", "G").Set(1);
  const std::string head = Get(server_->port(), "/metrics", "HEAD");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n") << head;
  const std::string post = Get(server_->port(), "/metrics", "POST");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  EXPECT_EQ(Get(server_->port(), "/nope").rfind("HTTP/1.1 404 ", 0), 0u);
}

TEST_F(MetricsServerTest, HealthAndReadinessFollowThePipeline) {
  EXPECT_EQ(Get(server_->port(), "/healthz").rfind("HTTP/1.1 200 ", 0), 0u);
  std::string ready = Get(server_->port(), "/ready");
  EXPECT_EQ(ready.rfind("HTTP/1.1 503 ", 0), 0u) << ready;
  EXPECT_NE(ready.find("not ready: starting"), std::string::npos) << ready;

  health_.SetPhase("initial snapshot", false);
  EXPECT_NE(Get(server_->port(), "/ready").find("not ready: initial snapshot"), std::string::npos);
  health_.SetPhase("streaming", true);
  ready = Get(server_->port(), "/ready");
  EXPECT_EQ(ready.rfind("HTTP/1.1 200 ", 0), 0u) << ready;

  health_.SetFailed("WAL writer: Unavailable: connection lost");
  health_.SetFailed("a second failure is not the first");
  const std::string live = Get(server_->port(), "/healthz");
  EXPECT_EQ(live.rfind("HTTP/1.1 503 ", 0), 0u) << live;
  EXPECT_NE(live.find("failed: WAL writer: Unavailable: connection lost"), std::string::npos);
  EXPECT_EQ(Get(server_->port(), "/ready").rfind("HTTP/1.1 503 ", 0), 0u);
}

TEST(HealthTest, RecoveringIsLiveButNotReadyAndForgetsTheEndedAttempt) {
  Health h;
  h.Watch("wal writer", 30s);
  h.Beat("wal writer");
  h.SetPhase("streaming", true);
  h.SetFailed("WAL writer: Unavailable: connection lost");
  h.SetRecovering("WAL writer: Unavailable: connection lost; retrying in 2 s");
  // The old attempt's loop no longer beats: not a reason to be killed while recovering.
  EXPECT_TRUE(h.Live(Health::Steady::now() + 1h).ok);
  const Health::Verdict r = h.Ready();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.text, "not ready: recovering: WAL writer: Unavailable: connection lost; retrying in 2 s\n");
  h.SetPhase("streaming", true);
  EXPECT_TRUE(h.Ready().ok);
}

TEST(HealthTest, AWatchedLoopThatStopsComingRoundIsNotLive) {
  Health h;
  h.Watch("wal writer", 30s);
  const auto t0 = Health::Steady::now();
  EXPECT_TRUE(h.Live(t0 + 1h).ok);  // never beat yet: not judged (start-up may be long)
  h.Beat("wal writer");
  EXPECT_TRUE(h.Live(Health::Steady::now() + 10s).ok);
  const Health::Verdict v = h.Live(Health::Steady::now() + 31s);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.text.find("stuck: wal writer"), std::string::npos) << v.text;
}

TEST_F(MetricsServerTest, MalformedAndOversizedRequestsGetAnErrorNotAHang) {
  EXPECT_EQ(Exchange(server_->port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  const std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n";
  const std::string answer = Exchange(server_->port(), big);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 ", 0), 0u) << answer;  // civetweb's code for it
  // The server still answers afterwards.
  EXPECT_EQ(Get(server_->port(), "/healthz").rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST_F(MetricsServerTest, ASilentClientTimesOutAndDoesNotBlockOthers) {
  const uint16_t port = server_->port();
  const auto t0 = Clock::now();
  std::string silent;
  std::thread client([&] { silent = Exchange(port, "GET /metr"); });
  std::this_thread::sleep_for(100ms);  // the silent client is connected first
  const Timed health = TimedExchange(port, "GET /healthz HTTP/1.1\r\n\r\n", 5s);
  EXPECT_EQ(health.answer.rfind("HTTP/1.1 200 ", 0), 0u) << health.answer;
  EXPECT_LT(health.took, 1s);
  client.join();
  EXPECT_EQ(silent.rfind("HTTP/1.1 4", 0), 0u) << silent;  // an error, not a hang
  EXPECT_LT(Clock::now() - t0, 10s);
  EXPECT_EQ(Get(port, "/healthz").rfind("HTTP/1.1 200 ", 0), 0u);
}

// A liveness probe must not fail because other clients hold connections open: the old
// single-threaded server took 92 s to answer this one.
TEST_F(MetricsServerTest, HealthzAnswersWithinASecondWhileManyConnectionsAreIdle) {
  constexpr int kIdle = 200;
  const uint16_t port = server_->port();
  std::vector<std::unique_ptr<SlowSender>> slow;
  for (int i = 0; i < 4; ++i) slow.push_back(std::make_unique<SlowSender>(port));
  IdleConnections idle(port, kIdle);
  EXPECT_EQ(idle.Established(5s), kIdle);
  for (int attempt = 0; attempt < 5; ++attempt) {
    const Timed t = TimedExchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 5s);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.took).count();
    ASSERT_EQ(t.answer.rfind("HTTP/1.1 200 ", 0), 0u)
        << "attempt " << attempt << " after " << ms << " ms: " << t.answer;
    ASSERT_LT(t.took, 1s) << "attempt " << attempt << " took " << ms << " ms";
    std::this_thread::sleep_for(200ms);
  }
  slow.clear();
  idle.Close();
  const std::string metrics = Get(port, "/metrics");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200 ", 0), 0u) << metrics;
}

TEST_F(MetricsServerTest, StopsPromptlyWithIdleConnectionsOpen) {
  const uint16_t port = server_->port();
  SlowSender slow(port);
  IdleConnections idle(port, 200);
  EXPECT_EQ(idle.Established(5s), 200);
  std::this_thread::sleep_for(200ms);  // let the server take some of them up
  const auto t0 = Clock::now();
  server_.reset();
  EXPECT_LT(Clock::now() - t0, 3s);
  // Nothing listens any more.
  EXPECT_EQ(TimedExchange(port, "GET /healthz HTTP/1.1\r\n\r\n", 2s).answer, "connect failed");
}

TEST_F(MetricsServerTest, AnAddressInUseIsAClearError) {
  auto second = MetricsServer::Start("127.0.0.1:" + std::to_string(server_->port()), &registry_,
                                     &health_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("set metrics_addr to a free host:port"),
            std::string::npos)
      << second.status().message();
}

TEST(MetricsServerAddrTest, MalformedAddressesAreRefused) {
  metrics::Registry r;
  Health h;
  for (const char* addr : {"9090", "localhost:", "127.0.0.1:99999", "127.0.0.1:90s"}) {
    auto s = MetricsServer::Start(addr, &r, &h);
    EXPECT_FALSE(s.ok()) << addr;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << addr;
      EXPECT_NE(s.status().message().find(addr), std::string::npos) << s.status().message();
    }
  }
  // Bracketed IPv6, if the host and the civetweb library have it; otherwise a clear error.
  auto v6 = MetricsServer::Start("[::1]:0", &r, &h);
  if (v6.ok()) {
    EXPECT_NE((*v6)->port(), 0);
  } else {
    EXPECT_EQ(v6.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(v6.status().message().find("[::1]:0"), std::string::npos)
        << v6.status().message();
  }
}

TEST(MetricsServerAddrTest, AnEmptyHostListensEverywhereAndNamesAreResolved) {
  metrics::Registry r;
  Health h;
  for (const char* addr : {":0", "localhost:0"}) {
    auto s = MetricsServer::Start(addr, &r, &h);
    ASSERT_TRUE(s.ok()) << addr << ": " << s.status().ToString();
    EXPECT_EQ(Get((*s)->port(), "/healthz").rfind("HTTP/1.1 200 ", 0), 0u) << addr;
  }
}

TEST(ProcessMetricsTest, ReadsCpuMemoryAndDescriptorsAtScrape) {
  metrics::Registry r;
  RegisterProcessMetrics(r, "9.9.9");
  const std::string text = r.Render();
  EXPECT_NE(text.find("pg2iceberg_build_info{version=\"9.9.9\"} 1\n"), std::string::npos) << text;
  EXPECT_GT(r.ValueOf("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(r.ValueOf("pg2iceberg_peak_resident_memory_bytes"),
            r.ValueOf("process_resident_memory_bytes"));
  EXPECT_GT(r.ValueOf("process_open_fds"), 2);
  EXPECT_GT(r.ValueOf("process_start_time_seconds"), 1.7e9);
  // CPU time goes up as we burn some.
  const double before = r.ValueOf("process_cpu_seconds_total");
  volatile double x = 0;
  for (int i = 0; i < 50'000'000; ++i) x = x + i * 0.5;
  r.Render();
  EXPECT_GT(r.ValueOf("process_cpu_seconds_total"), before);
}

}  // namespace
}  // namespace pg2iceberg::obs

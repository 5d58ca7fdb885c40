#include "obs/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace pg2iceberg::obs {
namespace {

using namespace std::chrono_literals;

// Sends `request` as it is to 127.0.0.1:port and returns everything the server answers.
std::string Exchange(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "connect failed";
  }
  if (!request.empty()) send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::string Get(uint16_t port, const std::string& path, const std::string& method = "GET") {
  return Exchange(port, method + " " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

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
  EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer;
  // The server still answers afterwards.
  EXPECT_EQ(Get(server_->port(), "/healthz").rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST_F(MetricsServerTest, ASilentClientTimesOutAndTheServerGoesOn) {
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Exchange(server_->port(), "GET /metr").rfind("HTTP/1.1 408 ", 0), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_EQ(Get(server_->port(), "/healthz").rfind("HTTP/1.1 200 ", 0), 0u);
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
  for (const char* addr : {"9090", "localhost:"}) {
    auto s = MetricsServer::Start(addr, &r, &h);
    EXPECT_FALSE(s.ok()) << addr;
    if (!s.ok()) {
      EXPECT_NE(s.status().message().find(addr), std::string::npos) << s.status().message();
    }
  }
  auto v6 = MetricsServer::Start("[::1]:0", &r, &h);  // bracketed IPv6 (if the host has it)
  if (v6.ok()) {
    EXPECT_NE((*v6)->port(), 0);
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

#include "notify/sinks.h"

#include <gtest/gtest.h>

namespace pg2iceberg::notify {
namespace {

// Answers every request with `status` and keeps the last request.
class FakeHttp final : public catalog::HttpClient {
 public:
  FakeHttp(long* status, catalog::HttpRequest* last) : status_(status), last_(last) {}
  Result<catalog::HttpResponse> Send(const catalog::HttpRequest& req) override {
    *last_ = req;
    if (*status_ == 0) return Unavailable("POST http://h/x?token=t: Couldn't connect");
    catalog::HttpResponse r;
    r.status = *status_;
    r.body = "busy";
    return r;
  }

 private:
  long* status_;
  catalog::HttpRequest* last_;
};

TEST(WebhookSinkTest, PostsTheEventWithItsIdempotencyKeyAndTakesOnly2xx) {
  long status = 204;
  catalog::HttpRequest last;
  auto sink = MakeWebhookSink("http://h/x?token=t", std::chrono::seconds(3),
                              std::make_unique<FakeHttp>(&status, &last));
  CommitEvent e;
  e.snapshot_id = 42;
  ASSERT_TRUE(sink->Deliver(e).ok());
  EXPECT_EQ(last.method, "POST");
  EXPECT_EQ(last.url, "http://h/x?token=t");
  EXPECT_EQ(last.timeout, std::chrono::seconds(3));
  EXPECT_EQ(last.body, e.ToJson());
  bool keyed = false;
  for (const auto& [k, v] : last.headers) keyed = keyed || (k == "Idempotency-Key" && v == "42");
  EXPECT_TRUE(keyed);

  status = 503;
  Status refused = sink->Deliver(e);
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("HTTP 503: busy"), std::string::npos) << refused.ToString();
  EXPECT_EQ(refused.message().find("token"), std::string::npos) << refused.ToString();

  status = 0;
  EXPECT_EQ(sink->Deliver(e).code(), StatusCode::kUnavailable);
}

TEST(OriginTest, KeepsSchemeHostAndPortOnly) {
  EXPECT_EQ(catalog::OriginOf("https://hooks.example:8443/a/b?token=x"),
            "https://hooks.example:8443");
  EXPECT_EQ(catalog::OriginOf("http://h?x"), "http://h");
  EXPECT_EQ(catalog::OriginOf("http://h"), "http://h");
}

}  // namespace
}  // namespace pg2iceberg::notify

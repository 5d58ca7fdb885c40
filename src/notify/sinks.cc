#include "notify/sinks.h"

#include <utility>

namespace pg2iceberg::notify {
namespace {

class WebhookSink : public EventSink {
 public:
  WebhookSink(std::string url, std::chrono::milliseconds timeout,
              std::unique_ptr<catalog::HttpClient> http)
      : url_(std::move(url)),
        origin_(catalog::OriginOf(url_)),
        timeout_(timeout),
        http_(std::move(http)) {}

  std::string name() const override { return kWebhookSink; }

  Status Deliver(const CommitEvent& event) override {
    catalog::HttpRequest req;
    req.method = "POST";
    req.url = url_;
    req.timeout = timeout_;
    req.headers = {{"Content-Type", "application/json"},
                   {"Idempotency-Key", std::to_string(event.snapshot_id)}};
    req.body = event.ToJson();
    Result<catalog::HttpResponse> resp = http_->Send(req);
    if (!resp.ok()) {
      return Unavailable("webhook did not answer: " + resp.status().message());
    }
    if (resp->status < 200 || resp->status >= 300) {
      std::string body = resp->body.substr(0, 200);
      return Unavailable("webhook at " + origin_ + " answered HTTP " +
                         std::to_string(resp->status) + (body.empty() ? "" : ": " + body));
    }
    return Status::Ok();
  }

 private:
  std::string url_;
  std::string origin_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<catalog::HttpClient> http_;
};

class PgNotifySink : public EventSink {
 public:
  PgNotifySink(std::string channel,
               std::function<Result<std::unique_ptr<pg::Connection>>()> reconnect)
      : channel_(std::move(channel)), reconnect_(std::move(reconnect)) {}

  std::string name() const override { return kNotifySink; }

  Status Deliver(const CommitEvent& event) override {
    if (conn_ == nullptr) {
      Result<std::unique_ptr<pg::Connection>> c = reconnect_();
      if (!c.ok()) return Unavailable("NOTIFY: " + c.status().message());
      conn_ = std::move(c).value();
    }
    auto r = conn_->Query("SELECT pg_notify($1, $2)", {channel_, event.ToJson()});
    if (!r.ok()) {
      conn_.reset();  // opened again on the next delivery
      return Unavailable("NOTIFY on channel " + channel_ + ": " + r.status().message());
    }
    return Status::Ok();
  }

 private:
  std::string channel_;
  std::function<Result<std::unique_ptr<pg::Connection>>()> reconnect_;
  std::unique_ptr<pg::Connection> conn_;
};

}  // namespace

std::unique_ptr<EventSink> MakeWebhookSink(std::string url, std::chrono::milliseconds timeout,
                                           std::unique_ptr<catalog::HttpClient> http) {
  return std::make_unique<WebhookSink>(std::move(url), timeout, std::move(http));
}

std::unique_ptr<EventSink> MakePgNotifySink(
    std::string channel, std::function<Result<std::unique_ptr<pg::Connection>>()> reconnect) {
  return std::make_unique<PgNotifySink>(std::move(channel), std::move(reconnect));
}

}  // namespace pg2iceberg::notify

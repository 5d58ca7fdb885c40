// Where commit events go: an HTTP webhook (POST of the event's JSON, header Idempotency-Key =
// the snapshot id) and PostgreSQL NOTIFY on a channel of the coordinator database. A sink
// delivers one event at a time and says whether it was taken; the notifier retries.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/status.h"
#include "catalog/http.h"
#include "notify/event.h"
#include "pg/connection.h"

namespace pg2iceberg::notify {

// The sinks' names.
inline constexpr char kWebhookSink[] = "webhook";
inline constexpr char kNotifySink[] = "notify";

class EventSink {
 public:
  virtual ~EventSink() = default;
  // "webhook" or "notify": the metric label and the key of the sink's progress.
  virtual std::string name() const = 0;
  // OK once the receiver took the event; an error (Unavailable) otherwise.
  virtual Status Deliver(const CommitEvent& event) = 0;
};

// POSTs each event to `url`; any 2xx status is taken, anything else (or no answer within
// `timeout`) is an error the notifier retries.
std::unique_ptr<EventSink> MakeWebhookSink(std::string url, std::chrono::milliseconds timeout,
                                           std::unique_ptr<catalog::HttpClient> http);

// pg_notify(`channel`, event JSON) on `conn` (the coordinator database). A connection that broke
// is opened again with `reconnect` on the next delivery.
std::unique_ptr<EventSink> MakePgNotifySink(
    std::string channel, std::function<Result<std::unique_ptr<pg::Connection>>()> reconnect);

}  // namespace pg2iceberg::notify

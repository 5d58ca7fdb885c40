// HTTP for the REST catalog, behind a narrow interface so tests can inject faults.
//
// Errors say whether the request may have reached the server, because a commit that may have
// been applied must not be retried blindly:
//   kUnavailable         the request was certainly not delivered (no connection) — retry
//   kCommitStateUnknown  it may have been delivered (timeout, connection reset after sending)
// An HTTP error status is not an error here: the response comes back and the caller maps it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace pg2iceberg::catalog {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{30'000};
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// How transport errors name what failed.
struct CurlErrorWords {
  std::string setting = "sink.catalog_uri";  // the key the operator checks
  std::string peer = "the catalog";
  // Messages show the URL without its path and query (which may carry a token).
  bool origin_only = false;
};

// libcurl; keeps connections alive between calls. Not thread-safe: one per thread.
std::unique_ptr<HttpClient> MakeCurlHttpClient(CurlErrorWords words = {});

// scheme://host[:port] of `url`.
std::string OriginOf(const std::string& url);

// application/x-www-form-urlencoded / RFC 3986 percent-encoding of one component.
std::string UrlEncode(std::string_view s);

}  // namespace pg2iceberg::catalog

// AWS Signature Version 4 request signing (header form), for the S3 object store and for
// REST catalogs behind AWS authentication (Glue, S3 Tables). Pure: the caller passes the
// request, the credentials and the signing time, and gets back the headers to add; nothing
// here reads a clock, the environment or the network. Thread-safe (no state).
//
// The request is described as it will go on the wire:
//   * `url` is absolute, "scheme://host[:port]/path?query". Path and query are the exact
//     bytes sent (already percent-encoded where the client encodes). A '+' in the query is a
//     literal plus (encode a space as %20).
//   * `headers` are the headers the client sends; a name may repeat (values are joined with
//     ',' in order). Host is derived from the URL when absent (port omitted when it is the
//     scheme's default), and returned among the headers to add.
//   * the payload is `body` (hashed here) or a precomputed `payload_hash`: lowercase hex
//     SHA-256, kUnsignedPayload, or a "STREAMING-…" marker.
//
// Canonicalisation follows the SigV4 documentation and its test suite:
//   * canonical URI, S3 style (service "s3"): no normalisation; each path segment is decoded
//     and URI-encoded once, so "/a%24b" and "/a$b" both sign as "/a%24b" and "//x//" stays.
//   * canonical URI, other services: "." and ".." segments are resolved and empty segments
//     dropped (a trailing "/" is kept), then the wire path is URI-encoded again, so
//     "/ns/a%1Fb" signs as "/ns/a%251Fb" (AWS's "double encoding").
//   * canonical query: parameters decoded, re-encoded with RFC 3986 unreserved characters
//     kept, sorted by name then value; "?flag" signs as "flag=".
//   * canonical headers: names lower-cased, values trimmed with inner runs of spaces/tabs
//     collapsed, sorted by name. All given headers are signed except user-agent, expect,
//     connection and x-amzn-trace-id, which proxies may change.
//   * x-amz-date is always added; x-amz-content-sha256 is added and signed for S3 (or when
//     requested); with a session token, x-amz-security-token is added and signed (or added
//     after signing when `sign_session_token` is false).
//
// Errors (InvalidArgument): a URL that is not absolute http(s), an empty method, region,
// service or key, a header name that is not a token or a value with CR/LF, a header the
// signer owns (authorization, x-amz-date, and x-amz-security-token / x-amz-content-sha256
// when the signer adds them) already present, or a malformed payload hash.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace pg2iceberg::catalog {

// The payload hash S3 accepts in place of the body's SHA-256.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless the credentials are temporary (STS)
};

enum class SigV4PathStyle {
  kAuto,          // kS3 when the service is "s3", kDoubleEncode otherwise
  kS3,            // encode each segment once, no normalisation
  kDoubleEncode,  // normalise, then encode the wire path again
};

struct SigV4Request {
  std::string method;  // "GET", "PUT", …
  std::string url;
  HttpHeaders headers;
  std::string_view body;                    // ignored when payload_hash is set
  std::optional<std::string> payload_hash;  // hex SHA-256, kUnsignedPayload or STREAMING-…
};

struct SigV4Config {
  std::string region;   // "us-east-1"
  std::string service;  // "s3", "glue", "s3tables", …
  AwsCredentials credentials;
  std::chrono::sys_seconds time;  // the signing instant (UTC)
  SigV4PathStyle path_style = SigV4PathStyle::kAuto;
  // Add and sign x-amz-content-sha256; unset means "only for S3", which requires it.
  std::optional<bool> content_sha256_header;
  // Sign x-amz-security-token (the common case); false adds it after signing, as the few
  // services that want it outside the signature require.
  bool sign_session_token = true;
};

struct SigV4Signature {
  std::string amz_date;          // "20150830T123600Z"
  std::string credential_scope;  // "20150830/us-east-1/service/aws4_request"
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // lowercase hex
  std::string authorization;   // the Authorization header value
  // Headers to add to the request, in order: Host (when it was derived from the URL),
  // X-Amz-Date, X-Amz-Content-Sha256 (when added), X-Amz-Security-Token (with a session
  // token), Authorization.
  HttpHeaders headers_to_add;
};

Result<SigV4Signature> SignRequest(const SigV4Request& request, const SigV4Config& config);

// Building blocks, exposed for tests and for callers that build URLs.

// RFC 3986 percent-encoding as SigV4 defines it: A-Z a-z 0-9 - . _ ~ stay, every other byte
// becomes %XX (upper-case hex); '/' stays when `keep_slash`.
std::string UriEncode(std::string_view bytes, bool keep_slash);
// Lower-case hex SHA-256.
std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string HmacSha256(std::string_view key, std::string_view data);
// "YYYYMMDDTHHMMSSZ".
std::string FormatAmzDate(std::chrono::sys_seconds time);
// The canonical URI of a wire path under a resolved style (kS3 or kDoubleEncode).
std::string CanonicalUri(std::string_view path, SigV4PathStyle style);
// The canonical query string of a raw query (without the '?').
std::string CanonicalQuery(std::string_view raw_query);

}  // namespace pg2iceberg::catalog

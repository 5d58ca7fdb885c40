#include "catalog/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdio>
#include <map>

namespace pg2iceberg::catalog {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; a '%' not followed by two hex digits is kept as a literal '%', which
// UriEncode then encodes, as a server decoding leniently would see it.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// Trims spaces and tabs and collapses inner runs of them to one space.
std::string CanonicalHeaderValue(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

struct ParsedUrl {
  std::string scheme;
  std::string host_header;  // authority without a default port
  std::string path;
  std::string query;
};

Result<ParsedUrl> ParseUrl(std::string_view url) {
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos) {
    return InvalidArgument("cannot sign \"" + std::string(url) +
                           "\": not an absolute URL (expected scheme://host/path)");
  }
  ParsedUrl out;
  out.scheme = ToLower(url.substr(0, colon));
  if (out.scheme != "http" && out.scheme != "https") {
    return InvalidArgument("cannot sign \"" + std::string(url) +
                           "\": scheme must be http or https");
  }
  std::string_view rest = url.substr(colon + 3);
  if (const size_t hash = rest.find('#'); hash != std::string_view::npos) {
    rest = rest.substr(0, hash);
  }
  const size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path_and_query =
      path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    return InvalidArgument("cannot sign \"" + std::string(url) +
                           "\": the URL needs a host and must not carry user info");
  }
  // Drop the port when it is the scheme's default, as HTTP clients do for the Host header.
  const size_t port_colon = authority.rfind(':');
  const size_t bracket = authority.rfind(']');
  if (port_colon != std::string_view::npos &&
      (bracket == std::string_view::npos || port_colon > bracket)) {
    const std::string_view port = authority.substr(port_colon + 1);
    if ((out.scheme == "https" && port == "443") || (out.scheme == "http" && port == "80")) {
      authority = authority.substr(0, port_colon);
    }
  }
  out.host_header = ToLower(authority);
  const size_t q = path_and_query.find('?');
  out.path = std::string(path_and_query.substr(0, q));
  if (q != std::string_view::npos) out.query = std::string(path_and_query.substr(q + 1));
  return out;
}

bool IsValidPayloadHash(std::string_view h) {
  if (h == kUnsignedPayload || h.starts_with("STREAMING-")) return true;
  if (h.size() != 64) return false;
  return std::all_of(h.begin(), h.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsUnsignedHeader(std::string_view lower_name) {
  return lower_name == "user-agent" || lower_name == "expect" || lower_name == "connection" ||
         lower_name == "x-amzn-trace-id";
}

Status RequireNonEmpty(std::string_view what, std::string_view value) {
  if (!value.empty()) return Status::Ok();
  return InvalidArgument("cannot sign the request: " + std::string(what) + " is empty");
}

}  // namespace

std::string UriEncode(std::string_view bytes, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &size);
  return std::string(reinterpret_cast<const char*>(mac), size);
}

std::string FormatAmzDate(std::chrono::sys_seconds time) {
  const auto day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day ymd(day);
  const std::chrono::hh_mm_ss hms(time - day);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string CanonicalUri(std::string_view path, SigV4PathStyle style) {
  if (path.empty()) return "/";
  if (style == SigV4PathStyle::kS3) {
    std::string out;
    bool first = true;
    for (std::string_view segment : Split(path, '/')) {
      if (!first) out.push_back('/');
      first = false;
      out += UriEncode(PercentDecode(segment), /*keep_slash=*/false);
    }
    if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
    return out;
  }
  std::vector<std::string_view> kept;
  for (std::string_view segment : Split(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
      continue;
    }
    kept.push_back(segment);
  }
  std::string out = "/";
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) out.push_back('/');
    out += UriEncode(kept[i], /*keep_slash=*/false);
  }
  if (!kept.empty() && path.back() == '/') out.push_back('/');
  return out;
}

std::string CanonicalQuery(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> params;
  for (std::string_view piece : Split(raw_query, '&')) {
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    const std::string_view name = piece.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    params.emplace_back(UriEncode(PercentDecode(name), false),
                        UriEncode(PercentDecode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

Result<SigV4Signature> SignRequest(const SigV4Request& request, const SigV4Config& config) {
  PG2I_RETURN_IF_ERROR(RequireNonEmpty("the method", request.method));
  PG2I_RETURN_IF_ERROR(RequireNonEmpty("the region", config.region));
  PG2I_RETURN_IF_ERROR(RequireNonEmpty("the service", config.service));
  PG2I_RETURN_IF_ERROR(RequireNonEmpty("the access key id", config.credentials.access_key_id));
  PG2I_RETURN_IF_ERROR(
      RequireNonEmpty("the secret access key", config.credentials.secret_access_key));
  PG2I_ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(request.url));

  const bool is_s3 = config.service == "s3";
  SigV4PathStyle style = config.path_style;
  if (style == SigV4PathStyle::kAuto) {
    style = is_s3 ? SigV4PathStyle::kS3 : SigV4PathStyle::kDoubleEncode;
  }
  const bool add_content_sha = config.content_sha256_header.value_or(is_s3);
  const bool has_token = !config.credentials.session_token.empty();
  const bool sign_token = has_token && config.sign_session_token;

  std::string payload_hash;
  if (request.payload_hash) {
    if (!IsValidPayloadHash(*request.payload_hash)) {
      return InvalidArgument("payload hash \"" + *request.payload_hash +
                             "\" is neither lower-case hex SHA-256, UNSIGNED-PAYLOAD nor "
                             "STREAMING-…");
    }
    payload_hash = *request.payload_hash;
  } else {
    payload_hash = Sha256Hex(request.body);
  }

  SigV4Signature sig;
  sig.amz_date = FormatAmzDate(config.time);
  const std::string date = sig.amz_date.substr(0, 8);
  sig.credential_scope = date + "/" + config.region + "/" + config.service + "/aws4_request";

  // Lower-cased name -> canonical values in request order; std::map keeps names sorted.
  std::map<std::string, std::vector<std::string>> signed_headers;
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
      return InvalidArgument("cannot sign header \"" + name + "\": not a valid header name");
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgument("cannot sign header " + name + ": its value contains CR or LF");
    }
    const std::string lower = ToLower(name);
    if (lower == "authorization" || lower == "x-amz-date" ||
        (has_token && lower == "x-amz-security-token") ||
        (add_content_sha && lower == "x-amz-content-sha256")) {
      return InvalidArgument("header " + name +
                             " is set by the SigV4 signer; remove it from the request");
    }
    if (lower == "host") has_host = true;
    if (IsUnsignedHeader(lower)) continue;
    signed_headers[lower].push_back(CanonicalHeaderValue(value));
  }
  if (!has_host) {
    signed_headers["host"].push_back(url.host_header);
    sig.headers_to_add.emplace_back("Host", url.host_header);
  }
  signed_headers["x-amz-date"].push_back(sig.amz_date);
  sig.headers_to_add.emplace_back("X-Amz-Date", sig.amz_date);
  if (add_content_sha) {
    signed_headers["x-amz-content-sha256"].push_back(payload_hash);
    sig.headers_to_add.emplace_back("X-Amz-Content-Sha256", payload_hash);
  }
  if (sign_token) {
    signed_headers["x-amz-security-token"].push_back(config.credentials.session_token);
  }

  std::string canonical_headers;
  for (const auto& [name, values] : signed_headers) {
    if (!sig.signed_headers.empty()) sig.signed_headers.push_back(';');
    sig.signed_headers += name;
    canonical_headers += name;
    canonical_headers.push_back(':');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) canonical_headers.push_back(',');
      canonical_headers += values[i];
    }
    canonical_headers.push_back('\n');
  }

  sig.canonical_request = request.method + "\n" + CanonicalUri(url.path, style) + "\n" +
                          CanonicalQuery(url.query) + "\n" + canonical_headers + "\n" +
                          sig.signed_headers + "\n" + payload_hash;
  sig.string_to_sign = std::string(kAlgorithm) + "\n" + sig.amz_date + "\n" +
                       sig.credential_scope + "\n" + Sha256Hex(sig.canonical_request);

  const std::string k_date = HmacSha256("AWS4" + config.credentials.secret_access_key, date);
  const std::string k_region = HmacSha256(k_date, config.region);
  const std::string k_service = HmacSha256(k_region, config.service);
  const std::string k_signing = HmacSha256(k_service, "aws4_request");
  sig.signature = Hex(HmacSha256(k_signing, sig.string_to_sign));

  sig.authorization = std::string(kAlgorithm) +
                      " Credential=" + config.credentials.access_key_id + "/" +
                      sig.credential_scope + ", SignedHeaders=" + sig.signed_headers +
                      ", Signature=" + sig.signature;
  if (has_token) {
    sig.headers_to_add.emplace_back("X-Amz-Security-Token", config.credentials.session_token);
  }
  sig.headers_to_add.emplace_back("Authorization", sig.authorization);
  return sig;
}

}  // namespace pg2iceberg::catalog

#include "catalog/rest_catalog.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/metrics.h"
#include "catalog/sigv4.h"
#include "iceberg/metadata.h"
#include "iceberg/metadata_edit.h"

namespace pg2iceberg::catalog {
namespace {

using Json = nlohmann::ordered_json;
using config::CatalogAuth;

constexpr char kUserAgent[] = "pg2iceberg/0.1";
constexpr char kDefaultSeparator[] = "%1F";
constexpr char kTransactionsEndpoint[] = "POST /v1/{prefix}/transactions/commit";
constexpr char kNamespaceExistsEndpoint[] = "HEAD /v1/{prefix}/namespaces/{namespace}";
constexpr char kRedacted[] = "********";
// Longest server message quoted in a Status.
constexpr size_t kMaxServerMessage = 400;
// A Retry-After longer than this is not honoured in full: the caller's own retry loop is the
// better place to wait minutes.
constexpr std::chrono::seconds kMaxRetryAfter{60};

std::string IdentName(const TableIdent& ident) {
  std::string out;
  for (const auto& level : ident.ns) out += level + ".";
  return out + ident.name;
}

std::string NamespaceName(const std::vector<std::string>& ns) {
  std::string out;
  for (size_t i = 0; i < ns.size(); ++i) out += (i ? "." : "") + ns[i];
  return out;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "https://user:pw@host/x" → "https://host/x": the URI may carry credentials.
std::string UriForMessages(const std::string& uri) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  const size_t host_start = scheme + 3;
  const size_t path = uri.find('/', host_start);
  const size_t at = uri.rfind('@', path == std::string::npos ? uri.size() : path);
  if (at == std::string::npos || at < host_start) return uri;
  return uri.substr(0, host_start) + uri.substr(at + 1);
}

// Server error bodies: the spec's {"error": {"message", "type", "code"}}, the OAuth2 form
// {"error": "...", "error_description": "..."}, or whatever a proxy sends (HTML pages).
struct ServerError {
  std::string type;
  std::string message;
};

std::string Truncate(std::string s, size_t max) {
  if (s.size() > max) {
    s.resize(max);
    s += "…";
  }
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

ServerError ParseServerError(const std::string& body) {
  ServerError e;
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    auto it = j.find("error");
    if (it != j.end() && it->is_object()) {
      if (auto m = it->find("message"); m != it->end() && m->is_string()) {
        e.message = m->get<std::string>();
      }
      if (auto t = it->find("type"); t != it->end() && t->is_string()) {
        e.type = t->get<std::string>();
      }
      return {e.type, Truncate(e.message, kMaxServerMessage)};
    }
    if (it != j.end() && it->is_string()) {  // OAuth2 error
      e.type = it->get<std::string>();
      if (auto d = j.find("error_description"); d != j.end() && d->is_string()) {
        e.message = d->get<std::string>();
      }
      return {e.type, Truncate(e.message, kMaxServerMessage)};
    }
  }
  // Not the error model: an HTML error page's title, or the start of the text.
  const size_t title = body.find("<title>");
  if (title != std::string::npos) {
    const size_t end = body.find("</title>", title);
    e.message = body.substr(title + 7, end == std::string::npos ? 200 : end - title - 7);
  } else {
    e.message = body;
  }
  e.message = Truncate(e.message, 200);
  return e;
}

std::string Describe(const HttpResponse& r) {
  ServerError e = ParseServerError(r.body);
  std::string out = "HTTP " + std::to_string(r.status);
  if (!e.type.empty()) out += " " + e.type;
  if (!e.message.empty()) out += ": " + e.message;
  return out;
}

bool IsNoSuchEntity(const HttpResponse& r) {
  const std::string type = ParseServerError(r.body).type;
  return type.rfind("NoSuch", 0) == 0;
}

Json IdentifierJson(const TableIdent& ident) {
  Json id = Json::object();
  id["namespace"] = ident.ns;
  id["name"] = ident.name;
  return id;
}

Result<Json> ParseObject(const std::string& body, const std::string& what) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(what + " is not JSON");
  if (!j.is_object()) return InvalidArgument(what + " is not a JSON object");
  return j;
}

std::map<std::string, std::string> StringMap(const Json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_null()) continue;
    out[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return out;
}

// Table metadata as the spec's TableMetadata object inside a LoadTableResult or
// CommitTableResponse.
Result<LoadedTable> ParseLoadedTable(const std::string& body, const std::string& what) {
  PG2I_ASSIGN_OR_RETURN(Json j, ParseObject(body, what));
  LoadedTable t;
  if (auto loc = j.find("metadata-location"); loc != j.end() && loc->is_string()) {
    t.metadata_location = loc->get<std::string>();
  }
  auto meta = j.find("metadata");
  if (meta == j.end() || !meta->is_object()) {
    return InvalidArgument(what + " has no \"metadata\" object");
  }
  auto parsed = iceberg::ParseTableMetadata(meta->dump());
  if (!parsed.ok()) return parsed.status().WithContext(what);
  t.metadata = std::move(parsed).value();
  if (auto cfg = j.find("config"); cfg != j.end()) t.config = StringMap(*cfg);
  // Storage credentials take precedence over config (spec: check them first); the one whose
  // prefix matches the table location longest applies.
  if (auto creds = j.find("storage-credentials"); creds != j.end() && creds->is_array()) {
    const Json* best = nullptr;
    size_t best_len = 0;
    for (const Json& c : *creds) {
      if (!c.is_object()) continue;
      auto prefix = c.find("prefix");
      const std::string p =
          prefix != c.end() && prefix->is_string() ? prefix->get<std::string>() : "";
      if (t.metadata.location.rfind(p, 0) == 0 && (best == nullptr || p.size() > best_len)) {
        best = &c;
        best_len = p.size();
      }
    }
    if (best != nullptr) {
      if (auto cfg = best->find("config"); cfg != best->end()) {
        for (auto& [k, v] : StringMap(*cfg)) t.config[k] = v;
      }
    }
  }
  return t;
}

// How a request may be repeated.
enum class Replay {
  // Repeating it cannot apply a change twice: retried on any transient failure.
  kSafe,
  // A commit or create: retried only when the server certainly did not act on it.
  kUnsafe,
};

}  // namespace

// ----- Impl ---------------------------------------------------------------------------------

class RestCatalog::Impl {
 public:
  struct Call {
    std::string method;
    std::string path;   // "/v1/…", already encoded
    std::string query;  // without '?'
    std::string body;
    std::string content_type = "application/json";
    Replay replay = Replay::kSafe;
    bool delegate_access = false;  // ask for vended credentials
    std::string what;              // "load table ns.t", for messages
  };
  struct Reply {
    HttpResponse response;
    // An earlier attempt may have been acted on (503 or a send that may have arrived), so a
    // 409 now can be our own earlier attempt's doing.
    bool doubt = false;
  };

  Impl(const config::Config::Sink& sink, RestCatalogOptions options)
      : sink_(sink), options_(std::move(options)) {
    if (!options_.http) options_.http = MakeCurlHttpClient();
    if (options_.clock == nullptr) options_.clock = Clock::Real();
    if (!options_.env) options_.env = config::ProcessEnv();
    if (options_.max_attempts < 1) options_.max_attempts = 1;
    uint64_t seed = options_.jitter_seed;
    if (seed == 0) seed = std::random_device{}();
    rng_.seed(seed);
    base_uri_ = sink_.catalog_uri;
    while (!base_uri_.empty() && base_uri_.back() == '/') base_uri_.pop_back();
    uri_for_messages_ = UriForMessages(base_uri_);
    // Credentials in the URI ("https://user:password@host") are secrets too: transport
    // errors quote the URL.
    if (const size_t scheme = base_uri_.find("://"); scheme != std::string::npos) {
      const size_t host = scheme + 3;
      const size_t at = base_uri_.find('@', host);
      const size_t slash = base_uri_.find('/', host);
      if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
        const std::string userinfo = base_uri_.substr(host, at - host);
        const size_t colon = userinfo.find(':');
        if (colon != std::string::npos) AddSecret(userinfo.substr(colon + 1));
      }
    }
    props_ = sink_.catalog_props;
    AddSecret(sink_.catalog_token);
    AddSecret(sink_.catalog_client_secret);
    AddSecret(sink_.s3_secret_key);
    // Properties such as header.Authorization, header.X-Api-Key, token or credential.
    for (const auto& [k, v] : sink_.catalog_props) {
      std::string key = k;
      for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (const char* word : {"secret", "token", "password", "credential", "auth", "key"}) {
        if (key.find(word) != std::string::npos) AddSecret(v);
      }
    }
  }

  // ----- set-up ---------------------------------------------------------------------------

  Status Init() {
    if (base_uri_.empty()) {
      return InvalidArgument("sink.catalog_uri is empty; set it to the REST catalog's base URL "
                             "(e.g. https://catalog.example.com/api/catalog)");
    }
    if (base_uri_.rfind("http://", 0) != 0 && base_uri_.rfind("https://", 0) != 0) {
      return InvalidArgument("sink.catalog_uri " + Scrub(uri_for_messages_) +
                             " is not an http(s) URL");
    }
    switch (sink_.catalog_auth) {
      case CatalogAuth::kNone:
        break;
      case CatalogAuth::kBearer:
        if (sink_.catalog_token.empty()) {
          return InvalidArgument(
              "sink.catalog_auth is bearer but sink.catalog_token is empty; set the token "
              "(PG2ICEBERG_SINK_CATALOG_TOKEN keeps it out of the config file)");
        }
        break;
      case CatalogAuth::kOAuth2:
        if (sink_.catalog_client_id.empty() || sink_.catalog_client_secret.empty()) {
          return InvalidArgument(
              "sink.catalog_auth is oauth2 but sink.catalog_client_id or "
              "sink.catalog_client_secret is empty; set both (or use catalog_auth: bearer "
              "with sink.catalog_token for a fixed token)");
        }
        break;
      case CatalogAuth::kSigV4:
        PG2I_RETURN_IF_ERROR(InitSigV4());
        break;
    }
    return LoadConfig();
  }

  Status InitSigV4() {
    aws_.access_key_id = sink_.s3_access_key;
    aws_.secret_access_key = sink_.s3_secret_key;
    if (aws_.access_key_id.empty() || aws_.secret_access_key.empty()) {
      aws_.access_key_id = options_.env("AWS_ACCESS_KEY_ID").value_or("");
      aws_.secret_access_key = options_.env("AWS_SECRET_ACCESS_KEY").value_or("");
      aws_.session_token = options_.env("AWS_SESSION_TOKEN").value_or("");
    }
    AddSecret(aws_.secret_access_key);
    AddSecret(aws_.session_token);
    if (aws_.access_key_id.empty() || aws_.secret_access_key.empty()) {
      return InvalidArgument(
          "sink.catalog_auth is sigv4 but no AWS credentials were found; set "
          "sink.s3_access_key and sink.s3_secret_key, or AWS_ACCESS_KEY_ID and "
          "AWS_SECRET_ACCESS_KEY in the environment");
    }
    return Status::Ok();
  }

  // GET /v1/config: defaults, then the client's properties, then overrides.
  Status LoadConfig() {
    Call call;
    call.method = "GET";
    call.path = "/v1/config";
    if (auto it = sink_.catalog_props.find("warehouse"); it != sink_.catalog_props.end()) {
      call.query = "warehouse=" + UrlEncode(it->second);
    }
    call.what = "read the catalog configuration";
    PG2I_ASSIGN_OR_RETURN(Reply reply, Send(call));
    const HttpResponse& r = reply.response;
    if (r.status != 200) {
      if (r.status == 404) {
        return FailedPrecondition(Scrub(
            "REST catalog at " + uri_for_messages_ + ": GET /v1/config returned " +
            Describe(r) + "; check sink.catalog_uri (the base URL, without /v1)"));
      }
      return MapError(call, r);
    }
    auto parsed = ParseObject(r.body, "the /v1/config response");
    if (!parsed.ok()) return Malformed(call, parsed.status());
    const Json& j = *parsed;
    std::map<std::string, std::string> merged;
    if (auto d = j.find("defaults"); d != j.end()) merged = StringMap(*d);
    for (const auto& [k, v] : sink_.catalog_props) merged[k] = v;
    if (auto o = j.find("overrides"); o != j.end()) {
      for (auto& [k, v] : StringMap(*o)) merged[k] = v;
    }
    props_ = std::move(merged);
    if (auto e = j.find("endpoints"); e != j.end() && e->is_array()) {
      for (const Json& s : *e) {
        if (s.is_string()) endpoints_.insert(NormaliseEndpoint(s.get<std::string>()));
      }
      transactions_ = endpoints_.count(kTransactionsEndpoint) ? Tristate::kYes : Tristate::kNo;
    }
    prefix_ = props_.count("prefix") ? props_.at("prefix") : "";
    while (!prefix_.empty() && prefix_.front() == '/') prefix_.erase(0, 1);
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
    separator_ = props_.count("namespace-separator") && !props_.at("namespace-separator").empty()
                     ? props_.at("namespace-separator")
                     : kDefaultSeparator;
    separator_decoded_ = PercentDecode(separator_);
    return Status::Ok();
  }

  static std::string NormaliseEndpoint(std::string s) {
    const size_t space = s.find(' ');
    if (space == std::string::npos) return s;
    std::string verb = s.substr(0, space);
    std::string path = s.substr(space + 1);
    while (!path.empty() && path.front() == ' ') path.erase(0, 1);
    if (!path.empty() && path.front() != '/') path = "/" + path;
    return verb + " " + path;
  }

  // ----- paths ----------------------------------------------------------------------------

  std::string Root() const { return prefix_.empty() ? "/v1" : "/v1/" + prefix_; }

  Result<std::string> EncodeNamespace(const std::vector<std::string>& ns) const {
    if (ns.empty()) return InvalidArgument("a namespace needs at least one level");
    std::string out;
    for (size_t i = 0; i < ns.size(); ++i) {
      if (ns[i].empty()) {
        return InvalidArgument("namespace " + NamespaceName(ns) + " has an empty level");
      }
      if (!separator_decoded_.empty() && ns[i].find(separator_decoded_) != std::string::npos) {
        return InvalidArgument("namespace level '" + ns[i] +
                               "' contains the catalog's namespace separator '" +
                               separator_decoded_ +
                               "', so the catalog could not tell the levels apart; rename it");
      }
      if (i) out += separator_;
      out += UrlEncode(ns[i]);
    }
    return out;
  }

  Result<std::string> NamespacePath(const std::vector<std::string>& ns) const {
    PG2I_ASSIGN_OR_RETURN(std::string encoded, EncodeNamespace(ns));
    return Root() + "/namespaces/" + encoded;
  }

  Result<std::string> TablePath(const TableIdent& ident) const {
    if (ident.name.empty()) return InvalidArgument("a table name is empty");
    PG2I_ASSIGN_OR_RETURN(std::string ns, NamespacePath(ident.ns));
    return ns + "/tables/" + UrlEncode(ident.name);
  }

  // ----- secrets --------------------------------------------------------------------------

  void AddSecret(const std::string& s) {
    // Very short values would mangle ordinary words; no real secret is that short.
    if (s.size() >= 4 &&
        std::find(secrets_.begin(), secrets_.end(), s) == secrets_.end()) {
      secrets_.push_back(s);
      // Longest first, so a secret that contains another is replaced whole.
      std::sort(secrets_.begin(), secrets_.end(),
                [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    }
  }

  std::string Scrub(std::string s) const {
    for (const std::string& secret : secrets_) {
      for (size_t pos = s.find(secret); pos != std::string::npos;
           pos = s.find(secret, pos + sizeof(kRedacted) - 1)) {
        s.replace(pos, secret.size(), kRedacted);
      }
    }
    return s;
  }

  // ----- requests -------------------------------------------------------------------------

  std::chrono::milliseconds Backoff(int attempt, const HttpResponse* response) {
    int64_t ms = options_.initial_backoff.count();
    for (int i = 1; i < attempt && ms < options_.max_backoff.count(); ++i) ms *= 2;
    ms = std::min<int64_t>(ms, options_.max_backoff.count());
    // Half fixed, half random, so clients that failed together do not retry together.
    std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(ms / 2, 0));
    ms = ms - ms / 2 + jitter(rng_);
    if (response != nullptr) {
      auto it = response->headers.find("retry-after");
      if (it != response->headers.end()) {
        char* end = nullptr;
        const long seconds = std::strtol(it->second.c_str(), &end, 10);
        if (end != it->second.c_str() && seconds > 0) {
          ms = std::max<int64_t>(
              ms, std::min<int64_t>(seconds, kMaxRetryAfter.count()) * 1000);
        }
      }
    }
    return std::chrono::milliseconds(ms);
  }

  // The Authorization header (bearer, oauth2) or SigV4 headers for one attempt.
  Status Authenticate(HttpRequest* req) {
    switch (sink_.catalog_auth) {
      case CatalogAuth::kNone:
        return Status::Ok();
      case CatalogAuth::kBearer:
        req->headers.emplace_back("Authorization", "Bearer " + sink_.catalog_token);
        return Status::Ok();
      case CatalogAuth::kOAuth2: {
        PG2I_ASSIGN_OR_RETURN(std::string token, AccessToken());
        req->headers.emplace_back("Authorization", "Bearer " + token);
        return Status::Ok();
      }
      case CatalogAuth::kSigV4: {
        SigV4Request sreq;
        sreq.method = req->method;
        sreq.url = req->url;
        sreq.headers = req->headers;
        sreq.body = req->body;
        SigV4Config cfg;
        cfg.region = Prop("rest.signing-region", sink_.s3_region);
        cfg.service = Prop("rest.signing-name", "execute-api");
        cfg.credentials = aws_;
        cfg.time = std::chrono::floor<std::chrono::seconds>(
            std::chrono::sys_time<Clock::Duration>(options_.clock->Now().time_since_epoch()));
        // Iceberg Java's signer sends the body hash too; services accept it either way.
        cfg.content_sha256_header = true;
        auto signature = SignRequest(sreq, cfg);
        if (!signature.ok()) {
          return InvalidArgument(Scrub("cannot sign the request to the REST catalog: " +
                                       signature.status().message()));
        }
        for (auto& h : signature->headers_to_add) req->headers.push_back(std::move(h));
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  std::string Prop(const std::string& key, const std::string& fallback) const {
    auto it = props_.find(key);
    return it != props_.end() && !it->second.empty() ? it->second : fallback;
  }

  void AddCommonHeaders(HttpRequest* req) const {
    req->headers.emplace_back("Accept", "application/json");
    req->headers.emplace_back("User-Agent", kUserAgent);
    for (const auto& [k, v] : props_) {
      if (k.rfind("header.", 0) == 0 && k.size() > 7) req->headers.emplace_back(k.substr(7), v);
    }
  }

  // Sends with retries, authentication and one token refresh after a 401/419. Returns the
  // final HTTP response (any status) or a transport error: Unavailable when nothing was
  // delivered (or a safe request kept failing), CommitStateUnknown when an unsafe request may
  // have been delivered.
  Result<Reply> Send(const Call& call) {
    Reply reply;
    bool refreshed = false;
    const std::string display = call.method + " " + call.path;
    for (int attempt = 1;; ++attempt) {
      HttpRequest req;
      req.method = call.method;
      req.url = base_uri_ + call.path + (call.query.empty() ? "" : "?" + call.query);
      req.body = call.body;
      req.timeout = options_.request_timeout;
      AddCommonHeaders(&req);
      if (!call.body.empty() || call.method == "POST") {
        req.headers.emplace_back("Content-Type", call.content_type);
      }
      if (call.delegate_access) {
        req.headers.emplace_back("X-Iceberg-Access-Delegation", "vended-credentials");
      }
      PG2I_RETURN_IF_ERROR(Authenticate(&req));

      Result<HttpResponse> sent = options_.http->Send(req);
      const bool last = attempt >= options_.max_attempts;
      if (!sent.ok()) {
        const StatusCode code = sent.status().code();
        const std::string why = Scrub(sent.status().message());
        if (code != StatusCode::kUnavailable && code != StatusCode::kCommitStateUnknown) {
          return Status(code, "REST catalog: " + call.what + " failed: " + why);
        }
        const bool maybe_delivered = code == StatusCode::kCommitStateUnknown;
        if (maybe_delivered && call.replay == Replay::kUnsafe) {
          return CommitStateUnknown("REST catalog: " + call.what + " (" + display +
                                    ") may or may not have been applied: " + why);
        }
        reply.doubt = reply.doubt || maybe_delivered;
        if (last) {
          return Unavailable("REST catalog: " + call.what + " (" + display + ") failed after " +
                             std::to_string(attempt) + " attempt(s): " + why +
                             "; check that the catalog at " + uri_for_messages_ +
                             " is reachable");
        }
        Retry(call, attempt, why, nullptr);
        continue;
      }
      reply.response = std::move(sent).value();
      const long status = reply.response.status;
      log::Debug("REST catalog request",
                 {{"request", display}, {"status", static_cast<int64_t>(status)}});
      if ((status == 401 || status == 419) && sink_.catalog_auth == CatalogAuth::kOAuth2 &&
          !refreshed) {
        // The token expired early or was revoked: the request was refused, not acted on.
        refreshed = true;
        token_.clear();
        log::Info("REST catalog refused the OAuth2 token; fetching a new one",
                  {{"status", static_cast<int64_t>(status)}});
        --attempt;
        continue;
      }
      const bool throttled = status == 429 || status == 503;
      // 501, 505 and the like will not change on a second try.
      const bool server_error = status == 500 || status == 502 || status == 504;
      const bool retry = throttled || (server_error && call.replay == Replay::kSafe);
      if (!retry || last) return reply;
      if (status == 503) reply.doubt = true;
      Retry(call, attempt, "HTTP " + std::to_string(status), &reply.response);
    }
  }

  void Retry(const Call& call, int attempt, const std::string& why,
             const HttpResponse* response) {
    const auto delay = Backoff(attempt, response);
    metrics::CountError("catalog", StatusCode::kUnavailable);
    log::Warn("REST catalog request failed; retrying",
              {{"request", call.method + " " + call.path},
               {"attempt", attempt},
               {"error", why},
               {"backoff_ms", static_cast<int64_t>(delay.count())}});
    options_.clock->SleepFor(delay);
  }

  // ----- OAuth2 ---------------------------------------------------------------------------

  std::string TokenEndpoint() const {
    auto it = props_.find("oauth2-server-uri");
    if (it != props_.end() && !it->second.empty()) return it->second;
    return base_uri_ + "/v1/oauth/tokens";
  }

  Result<std::string> AccessToken() {
    if (!token_.empty() &&
        (!token_refresh_at_ || options_.clock->Monotonic() < *token_refresh_at_)) {
      return token_;
    }
    token_.clear();
    const std::string endpoint = TokenEndpoint();
    const std::string endpoint_display = UriForMessages(endpoint);
    std::string form = "grant_type=client_credentials&client_id=" +
                       UrlEncode(sink_.catalog_client_id) +
                       "&client_secret=" + UrlEncode(sink_.catalog_client_secret) +
                       "&scope=" + UrlEncode(Prop("scope", "catalog"));
    for (const char* extra : {"audience", "resource"}) {
      auto it = props_.find(extra);
      if (it != props_.end() && !it->second.empty()) {
        form += std::string("&") + extra + "=" + UrlEncode(it->second);
      }
    }
    for (int attempt = 1;; ++attempt) {
      HttpRequest req;
      req.method = "POST";
      req.url = endpoint;
      req.body = form;
      req.timeout = options_.request_timeout;
      AddCommonHeaders(&req);
      req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
      Result<HttpResponse> sent = options_.http->Send(req);
      const bool last = attempt >= options_.max_attempts;
      std::string why;
      const HttpResponse* response = nullptr;
      if (!sent.ok()) {
        const StatusCode code = sent.status().code();
        why = Scrub(sent.status().message());
        if (code != StatusCode::kUnavailable && code != StatusCode::kCommitStateUnknown) {
          return Status(code, "REST catalog: OAuth2 token request to " + endpoint_display +
                                  " failed: " + why);
        }
      } else if (sent->status == 200) {
        return AcceptToken(sent->body, endpoint_display);
      } else if (sent->status == 429 || sent->status >= 500) {
        response = &*sent;
        why = Scrub(Describe(*sent));
      } else {
        return FailedPrecondition(Scrub(
            "REST catalog: the OAuth2 server " + endpoint_display +
            " refused the client credentials (" + Describe(*sent) +
            "); check sink.catalog_client_id, sink.catalog_client_secret and the `scope` "
            "catalog property"));
      }
      if (last) {
        return Unavailable("REST catalog: OAuth2 token request to " + endpoint_display +
                           " failed after " + std::to_string(attempt) + " attempt(s): " + why);
      }
      const auto delay = Backoff(attempt, response);
      metrics::CountError("catalog", StatusCode::kUnavailable);
      log::Warn("REST catalog OAuth2 token request failed; retrying",
                {{"endpoint", endpoint_display}, {"attempt", attempt}, {"error", why}});
      options_.clock->SleepFor(delay);
    }
  }

  Result<std::string> AcceptToken(const std::string& body, const std::string& endpoint) {
    Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
    auto token = j.is_object() ? j.find("access_token") : j.end();
    if (!j.is_object() || token == j.end() || !token->is_string() ||
        token->get<std::string>().empty()) {
      return FailedPrecondition("REST catalog: the OAuth2 server " + endpoint +
                                " answered without an access_token");
    }
    token_ = token->get<std::string>();
    AddSecret(token_);
    token_refresh_at_.reset();
    int64_t expires_in = 0;
    if (auto e = j.find("expires_in"); e != j.end()) {
      if (e->is_number_integer()) {
        expires_in = e->get<int64_t>();
      } else if (e->is_string()) {
        expires_in = std::strtoll(e->get<std::string>().c_str(), nullptr, 10);
      }
    }
    if (expires_in > 0) {
      // Refresh a little before the server would refuse it: a tenth of the lifetime, at most
      // a minute.
      const auto lifetime = std::chrono::seconds(expires_in);
      const auto margin = std::min<Clock::Duration>(std::chrono::seconds(60), lifetime / 10);
      token_refresh_at_ = options_.clock->Monotonic() + lifetime - margin;
    }
    log::Info("REST catalog obtained an OAuth2 token",
              {{"endpoint", endpoint}, {"expires_in_s", expires_in}});
    return token_;
  }

  // ----- error mapping --------------------------------------------------------------------

  Status Malformed(const Call& call, const Status& why) const {
    return InvalidArgument(Scrub("REST catalog: " + call.what + " (" + call.method + " " +
                                 call.path + "): the response is malformed: " + why.message()));
  }

  // Non-commit requests.
  Status MapError(const Call& call, const HttpResponse& r) const {
    const std::string head =
        "REST catalog: " + call.what + " (" + call.method + " " + call.path + ") failed: " +
        Describe(r);
    const long s = r.status;
    std::string msg;
    StatusCode code;
    if (s == 400 || s == 422) {
      code = StatusCode::kInvalidArgument;
      msg = head + "; the catalog refused the request as malformed";
    } else if (s == 401 || s == 403 || s == 419) {
      code = StatusCode::kFailedPrecondition;
      msg = head + "; check sink.catalog_auth and its credentials" +
            (s == 403 ? " and the principal's privileges" : "");
    } else if (s == 404) {
      code = StatusCode::kNotFound;
      msg = head;
    } else if (s == 405 || s == 406 || s == 501) {
      code = StatusCode::kUnimplemented;
      msg = head + "; the catalog does not offer this operation";
    } else if (s == 409) {
      code = StatusCode::kAlreadyExists;
      msg = head;
    } else if (s == 429 || s >= 500) {
      code = StatusCode::kUnavailable;
      msg = head + "; the catalog is overloaded or failing, retry later";
    } else {
      code = StatusCode::kFailedPrecondition;
      msg = head;
    }
    return Status(code, Scrub(msg));
  }

  // Commits and creates: whatever may have been applied is CommitStateUnknown.
  Status MapCommitError(const Call& call, const Reply& reply, const std::string& object,
                        const std::string& read_back) const {
    const HttpResponse& r = reply.response;
    const long s = r.status;
    const std::string head = "REST catalog: " + call.what + " (" + call.method + " " +
                             call.path + ") failed: " + Describe(r);
    if (s == 409) {
      if (reply.doubt) {
        return CommitStateUnknown(Scrub(
            head + "; an earlier attempt of this request may have been applied, so the "
                   "conflict may be our own: " + read_back));
      }
      return Aborted(Scrub(head + "; " + object +
                           " was changed concurrently: reload it, redo the change and retry"));
    }
    if (s == 429) {
      return Unavailable(Scrub(head + "; the catalog is throttling requests, retry later"));
    }
    if (s >= 500) {
      return CommitStateUnknown(Scrub(head + "; the outcome is unknown: " + read_back));
    }
    if (s == 400 || s == 422) {
      return InvalidArgument(Scrub(head + "; the catalog refused the change to " + object +
                                   " as invalid"));
    }
    return MapError(call, r);
  }

  // ----- operations -----------------------------------------------------------------------

  Status CreateNamespace(const std::vector<std::string>& ns,
                         const std::map<std::string, std::string>& properties) {
    PG2I_RETURN_IF_ERROR(EncodeNamespace(ns));
    Json body = Json::object();
    body["namespace"] = ns;
    body["properties"] = Json::object();
    for (const auto& [k, v] : properties) body["properties"][k] = v;
    Call call;
    call.method = "POST";
    call.path = Root() + "/namespaces";
    call.body = body.dump();
    // A repeat finds the namespace there (409), which is success.
    call.replay = Replay::kSafe;
    call.what = "create namespace " + NamespaceName(ns);
    PG2I_ASSIGN_OR_RETURN(Reply reply, Send(call));
    const long s = reply.response.status;
    if (s == 200 || s == 204 || s == 409) return Status::Ok();
    if (s == 404) {
      return NotFound(Scrub("REST catalog: " + call.what + " failed: " +
                            Describe(reply.response) + "; create the parent namespace first"));
    }
    return MapError(call, reply.response);
  }

  Result<bool> NamespaceExists(const std::vector<std::string>& ns) {
    Call call;
    PG2I_ASSIGN_OR_RETURN(call.path, NamespacePath(ns));
    call.method = endpoints_.count(kNamespaceExistsEndpoint) ? "HEAD" : "GET";
    call.what = "check namespace " + NamespaceName(ns);
    PG2I_ASSIGN_OR_RETURN(Reply reply, Send(call));
    const long s = reply.response.status;
    if (s == 200 || s == 204) return true;
    if (s == 404) return false;
    return MapError(call, reply.response);
  }

  Result<LoadedTable> LoadTable(const TableIdent& ident) {
    Call call;
    call.method = "GET";
    PG2I_ASSIGN_OR_RETURN(call.path, TablePath(ident));
    call.delegate_access = sink_.credential_mode == config::CredentialMode::kVended;
    call.what = "load table " + IdentName(ident);
    PG2I_ASSIGN_OR_RETURN(Reply reply, Send(call));
    const HttpResponse& r = reply.response;
    if (r.status == 404) {
      return NotFound(Scrub("REST catalog: table " + IdentName(ident) +
                            " does not exist (" + Describe(r) + ")"));
    }
    if (r.status != 200) return MapError(call, r);
    auto loaded = ParseLoadedTable(r.body, "the load-table response for " + IdentName(ident));
    if (!loaded.ok()) return Malformed(call, loaded.status());
    Remember(ident, *loaded);
    return loaded;
  }

  Result<LoadedTable> CreateTable(const TableIdent& ident, const CreateTableRequest& request) {
    Call call;
    call.method = "POST";
    PG2I_ASSIGN_OR_RETURN(std::string ns_path, NamespacePath(ident.ns));
    if (ident.name.empty()) return InvalidArgument("create table: the table name is empty");
    call.path = ns_path + "/tables";
    Json body = Json::object();
    body["name"] = ident.name;
    if (!request.location.empty()) body["location"] = request.location;
    body["schema"] = Json::parse(iceberg::SerializeSchema(request.schema), nullptr, false);
    body["partition-spec"] =
        Json::parse(iceberg::SerializePartitionSpec(request.spec), nullptr, false);
    if (body["schema"].is_discarded() || body["partition-spec"].is_discarded()) {
      return Internal("create table " + IdentName(ident) +
                      ": the schema or partition spec did not serialise to JSON");
    }
    body["stage-create"] = false;
    body["properties"] = Json::object();
    for (const auto& [k, v] : request.properties) body["properties"][k] = v;
    call.body = body.dump();
    call.replay = Replay::kUnsafe;
    call.delegate_access = sink_.credential_mode == config::CredentialMode::kVended;
    call.what = "create table " + IdentName(ident);
    const std::string read_back =
        "load table " + IdentName(ident) + " to see whether it was created before retrying";
    auto sent = Send(call);
    if (!sent.ok()) {
      if (sent.status().code() == StatusCode::kCommitStateUnknown) {
        return CommitStateUnknown(sent.status().message() + "; " + read_back);
      }
      return sent.status();
    }
    const Reply& reply = *sent;
    const HttpResponse& r = reply.response;
    if (r.status == 409 && !reply.doubt) {
      return AlreadyExists(Scrub("REST catalog: table " + IdentName(ident) +
                                 " already exists (" + Describe(r) + ")"));
    }
    if (r.status == 404) {
      return NotFound(Scrub("REST catalog: cannot create table " + IdentName(ident) + ": " +
                            Describe(r) + "; create the namespace first"));
    }
    if (r.status != 200) return MapCommitError(call, reply, "table " + IdentName(ident), read_back);
    auto loaded = ParseLoadedTable(r.body, "the create-table response for " + IdentName(ident));
    if (!loaded.ok()) {
      return CommitStateUnknown(Scrub("REST catalog: table " + IdentName(ident) +
                                      " was created but the response is malformed (" +
                                      loaded.status().message() + "); load the table"));
    }
    Remember(ident, *loaded);
    return loaded;
  }

  std::string CommitBody(const TableCommit& c) const {
    int32_t format_version = 2;
    if (auto it = tables_.find(IdentName(c.ident)); it != tables_.end()) {
      format_version = it->second.format_version;
    }
    for (const auto& u : c.updates) {
      if (u.action == iceberg::TableUpdate::Action::kUpgradeFormatVersion) {
        format_version = std::max(format_version, u.format_version);
      }
    }
    return "{\"identifier\":" + IdentifierJson(c.ident).dump() +
           ",\"requirements\":" + iceberg::RequirementsToJson(c.requirements) +
           ",\"updates\":" + iceberg::UpdatesToJson(c.updates, format_version) + "}";
  }

  Result<LoadedTable> CommitTable(const TableCommit& commit) {
    Call call;
    call.method = "POST";
    PG2I_ASSIGN_OR_RETURN(call.path, TablePath(commit.ident));
    call.body = CommitBody(commit);
    call.replay = Replay::kUnsafe;
    call.what = "commit to table " + IdentName(commit.ident);
    const std::string read_back = "load table " + IdentName(commit.ident) +
                                  " and check whether the change is there before any retry "
                                  "or cleanup";
    auto sent = Send(call);
    if (!sent.ok()) {
      if (sent.status().code() == StatusCode::kCommitStateUnknown) {
        return CommitStateUnknown(sent.status().message() + "; " + read_back);
      }
      return sent.status();
    }
    const Reply& reply = *sent;
    const HttpResponse& r = reply.response;
    if (r.status == 404) {
      return NotFound(Scrub("REST catalog: cannot commit to table " + IdentName(commit.ident) +
                            ": " + Describe(r) + "; the table was dropped"));
    }
    if (r.status != 200) {
      return MapCommitError(call, reply, "table " + IdentName(commit.ident), read_back);
    }
    auto loaded =
        ParseLoadedTable(r.body, "the commit response for " + IdentName(commit.ident));
    if (!loaded.ok()) {
      return CommitStateUnknown(Scrub("REST catalog: the commit to table " +
                                      IdentName(commit.ident) +
                                      " was applied but the response is malformed (" +
                                      loaded.status().message() + "); " + read_back));
    }
    if (auto it = tables_.find(IdentName(commit.ident)); it != tables_.end()) {
      loaded->config = it->second.config;
    }
    Remember(commit.ident, *loaded);
    return loaded;
  }

  Status CommitTransaction(const std::vector<TableCommit>& commits) {
    if (commits.empty()) return Status::Ok();
    std::string names;
    for (const auto& c : commits) names += (names.empty() ? "" : ", ") + IdentName(c.ident);
    if (transactions_ == Tristate::kNo) {
      return Unimplemented("REST catalog at " + uri_for_messages_ +
                           " does not offer multi-table transactions "
                           "(POST /v1/{prefix}/transactions/commit); commit tables " + names +
                           " one by one");
    }
    std::string body = "{\"table-changes\":[";
    for (size_t i = 0; i < commits.size(); ++i) {
      PG2I_RETURN_IF_ERROR(TablePath(commits[i].ident));
      if (i) body += ",";
      body += CommitBody(commits[i]);
    }
    body += "]}";
    Call call;
    call.method = "POST";
    call.path = Root() + "/transactions/commit";
    call.body = std::move(body);
    call.replay = Replay::kUnsafe;
    call.what = "commit a transaction on tables " + names;
    const std::string read_back =
        "load tables " + names + " and check whether the changes are there before any retry "
        "or cleanup";
    auto sent = Send(call);
    if (!sent.ok()) {
      if (sent.status().code() == StatusCode::kCommitStateUnknown) {
        return CommitStateUnknown(sent.status().message() + "; " + read_back);
      }
      return sent.status();
    }
    const Reply& reply = *sent;
    const HttpResponse& r = reply.response;
    if (r.status == 200 || r.status == 204) {
      transactions_ = Tristate::kYes;
      // The response has no metadata; the next load refreshes what Remember() holds.
      return Status::Ok();
    }
    const bool route_missing =
        ((r.status == 404 && !IsNoSuchEntity(r)) || r.status == 405 || r.status == 406 ||
         r.status == 501) &&
        transactions_ == Tristate::kUnknown;
    if (route_missing) {
      transactions_ = Tristate::kNo;
      return Unimplemented(Scrub("REST catalog at " + uri_for_messages_ +
                                 " does not offer multi-table transactions (" + Describe(r) +
                                 "); commit tables " + names + " one by one"));
    }
    if (r.status == 404) {
      return NotFound(Scrub("REST catalog: " + call.what + " failed: " + Describe(r)));
    }
    return MapCommitError(call, reply, "one of the tables " + names, read_back);
  }

  Status DropTable(const TableIdent& ident, bool purge) {
    Call call;
    call.method = "DELETE";
    PG2I_ASSIGN_OR_RETURN(call.path, TablePath(ident));
    call.query = std::string("purgeRequested=") + (purge ? "true" : "false");
    call.what = "drop table " + IdentName(ident);
    PG2I_ASSIGN_OR_RETURN(Reply reply, Send(call));
    const long s = reply.response.status;
    if (s == 200 || s == 204) {
      tables_.erase(IdentName(ident));
      return Status::Ok();
    }
    if (s == 404) {
      // After an attempt that may have arrived, the table being gone is that attempt's work.
      if (reply.doubt) return Status::Ok();
      return NotFound(Scrub("REST catalog: table " + IdentName(ident) + " does not exist (" +
                            Describe(reply.response) + ")"));
    }
    return MapError(call, reply.response);
  }

  bool SupportsTransactions() const { return transactions_ != Tristate::kNo; }
  const std::map<std::string, std::string>& props() const { return props_; }

 private:
  enum class Tristate { kUnknown, kYes, kNo };
  struct TableState {
    int32_t format_version = 2;
    std::map<std::string, std::string> config;
  };

  void Remember(const TableIdent& ident, const LoadedTable& t) {
    TableState& st = tables_[IdentName(ident)];
    st.format_version = t.metadata.format_version;
    st.config = t.config;
    // Vended credentials are secrets too.
    for (const auto& [k, v] : t.config) {
      if (k.find("secret") != std::string::npos || k.find("token") != std::string::npos ||
          k.find("session") != std::string::npos) {
        AddSecret(v);
      }
    }
  }

  config::Config::Sink sink_;
  RestCatalogOptions options_;
  std::mt19937_64 rng_;
  std::string base_uri_;
  std::string uri_for_messages_;
  std::map<std::string, std::string> props_;
  std::string prefix_;
  std::string separator_ = kDefaultSeparator;
  std::string separator_decoded_ = "\x1f";
  std::set<std::string> endpoints_;
  Tristate transactions_ = Tristate::kUnknown;
  AwsCredentials aws_;
  std::string token_;
  std::optional<Clock::MonoTime> token_refresh_at_;
  std::vector<std::string> secrets_;
  std::map<std::string, TableState> tables_;
};

// ----- RestCatalog --------------------------------------------------------------------------

Result<std::unique_ptr<RestCatalog>> RestCatalog::Open(const config::Config::Sink& sink,
                                                       RestCatalogOptions options) {
  auto impl = std::make_unique<Impl>(sink, std::move(options));
  PG2I_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<RestCatalog>(new RestCatalog(std::move(impl)));
}

RestCatalog::RestCatalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RestCatalog::~RestCatalog() = default;

Status RestCatalog::CreateNamespace(const std::vector<std::string>& ns,
                                    const std::map<std::string, std::string>& properties) {
  return impl_->CreateNamespace(ns, properties);
}
Result<bool> RestCatalog::NamespaceExists(const std::vector<std::string>& ns) {
  return impl_->NamespaceExists(ns);
}
Result<LoadedTable> RestCatalog::LoadTable(const TableIdent& ident) {
  return impl_->LoadTable(ident);
}
Result<LoadedTable> RestCatalog::CreateTable(const TableIdent& ident,
                                             const CreateTableRequest& request) {
  return impl_->CreateTable(ident, request);
}
Result<LoadedTable> RestCatalog::CommitTable(const TableCommit& commit) {
  return impl_->CommitTable(commit);
}
Status RestCatalog::CommitTransaction(const std::vector<TableCommit>& commits) {
  return impl_->CommitTransaction(commits);
}
Status RestCatalog::DropTable(const TableIdent& ident, bool purge) {
  return impl_->DropTable(ident, purge);
}
const std::map<std::string, std::string>& RestCatalog::properties() const {
  return impl_->props();
}
bool RestCatalog::SupportsTransactions() const { return impl_->SupportsTransactions(); }
Result<std::string> RestCatalog::NamespacePath(const std::vector<std::string>& ns) const {
  return impl_->NamespacePath(ns);
}
Result<std::string> RestCatalog::TablePath(const TableIdent& ident) const {
  return impl_->TablePath(ident);
}

}  // namespace pg2iceberg::catalog

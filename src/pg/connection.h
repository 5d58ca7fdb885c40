// A libpq connection owned by one thread, with errors converted to Status at this boundary.
//
// Connect() maps libpq failures to codes by what the caller must do: an unreachable server
// is kUnavailable (retry); bad credentials, a missing database or role, an sslmode the server
// cannot satisfy or a certificate that does not verify kFailedPrecondition (tell the
// operator). Messages name the server (never the password) and the configuration key to fix.
// Not thread-safe: one Connection per thread.
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace pg2iceberg::pg {

// Rows of a text-format query result; NULL is std::nullopt.
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// Which configuration keys a connection's settings come from, so that a refused connection
// names the key to change: the source's own keys (source.postgres.user, …) or one URL key
// holding them all (state.postgres_url, the coordinator database when it is set).
struct ConnectionOrigin {
  std::string key = "source.postgres";  // the section, or the URL key when `url`
  bool url = false;

  static ConnectionOrigin SourcePostgres() { return {}; }
  static ConnectionOrigin StatePostgresUrl() { return {"state.postgres_url", true}; }

  // Where connection setting `name` (user, password, database, host, port, sslmode,
  // sslrootcert) is configured: "source.postgres.password", "the password in
  // state.postgres_url".
  std::string Setting(const std::string& name) const;
  // The environment variable that can set it: PG2ICEBERG_SOURCE_POSTGRES_PASSWORD,
  // PG2ICEBERG_STATE_POSTGRES_URL.
  std::string EnvVar(const std::string& name) const;
};

class Connection {
 public:
  // `conninfo` is a libpq keyword string or URL; `display` is its redacted form for messages;
  // `origin` says which configuration keys a failure message should point at.
  static Result<std::unique_ptr<Connection>> Connect(
      const std::string& conninfo, const std::string& display,
      const ConnectionOrigin& origin = ConnectionOrigin::SourcePostgres());
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements that return no rows we need.
  Status Exec(const std::string& sql);
  // Runs a query (with optional text parameters $1…) and returns all rows as text.
  Result<QueryResult> Query(const std::string& sql, const std::vector<std::string>& params = {});
  // The same with parameters that may be NULL (std::nullopt).
  Result<QueryResult> QueryNullable(const std::string& sql,
                                    const std::vector<std::optional<std::string>>& params);
  // First column of the first row; NotFound if there is no row, "" for NULL.
  Result<std::string> QueryScalar(const std::string& sql);

  // Runs a `COPY … TO STDOUT` and hands each piece of its output to `on_data` as it arrives.
  // When `on_data` fails, the copy is cancelled (which aborts a transaction it runs in) and
  // drained, and that error returned.
  Status CopyOut(const std::string& sql, const std::function<Status(std::string_view)>& on_data);

  int ServerVersion() const;  // e.g. 150018
  PGconn* raw() { return conn_; }

 private:
  explicit Connection(PGconn* conn, std::string display) : conn_(conn), display_(std::move(display)) {}
  Status ResultStatus(PGresult* res, const std::string& what);

  PGconn* conn_;
  std::string display_;
};

// The Status for a connection attempt that failed with `libpq_message` (PQerrorMessage on one
// line; libpq gives no SQLSTATE before the session exists, so this classifies the text):
// kUnavailable when retrying may help (server down or unreachable), kFailedPrecondition when
// the operator must change something, with the keys of `origin` to change. `display` names
// the server without its password.
Status ConnectFailure(const std::string& libpq_message, const std::string& display,
                      const ConnectionOrigin& origin);

// Connects, retrying kUnavailable failures with exponential backoff (initial 500 ms, doubling,
// capped at 30 s) until `attempts` are used; other errors return at once. The overload in
// pg/catalog.h is this one for the source's keys.
Result<std::unique_ptr<Connection>> ConnectWithRetry(const std::string& conninfo,
                                                     const std::string& display,
                                                     const ConnectionOrigin& origin,
                                                     int attempts, Clock* clock);

// A libpq error message on one line (newlines and tabs become spaces, trailing ones dropped).
std::string OneLine(const char* libpq_message);

// Maps a SQLSTATE to the Status code that says what the caller must do next.
StatusCode CodeForSqlState(const std::string& sqlstate);

}  // namespace pg2iceberg::pg

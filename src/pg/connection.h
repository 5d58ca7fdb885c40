// A libpq connection owned by one thread, with errors converted to Status at this boundary.
//
// Connect() maps libpq failures to codes by what the caller must do: an unreachable server
// is kUnavailable (retry), bad credentials or a missing database kFailedPrecondition (tell
// the operator). Messages name the server (never the password) and say what to check.
// Not thread-safe: one Connection per thread.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace pg2iceberg::pg {

// Rows of a text-format query result; NULL is std::nullopt.
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

class Connection {
 public:
  // `conninfo` is a libpq keyword string or URL; `display` is its redacted form for messages.
  static Result<std::unique_ptr<Connection>> Connect(const std::string& conninfo,
                                                     const std::string& display);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements that return no rows we need.
  Status Exec(const std::string& sql);
  // Runs a query (with optional text parameters $1…) and returns all rows as text.
  Result<QueryResult> Query(const std::string& sql, const std::vector<std::string>& params = {});
  // First column of the first row; NotFound if there is no row, "" for NULL.
  Result<std::string> QueryScalar(const std::string& sql);

  int ServerVersion() const;  // e.g. 150018
  PGconn* raw() { return conn_; }

 private:
  explicit Connection(PGconn* conn, std::string display) : conn_(conn), display_(std::move(display)) {}
  Status ResultStatus(PGresult* res, const std::string& what);

  PGconn* conn_;
  std::string display_;
};

// A libpq error message on one line (newlines and tabs become spaces, trailing ones dropped).
std::string OneLine(const char* libpq_message);

// Maps a SQLSTATE to the Status code that says what the caller must do next.
StatusCode CodeForSqlState(const std::string& sqlstate);

}  // namespace pg2iceberg::pg

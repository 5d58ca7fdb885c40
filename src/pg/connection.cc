#include "pg/connection.h"

#include "base/log.h"
#include "base/metrics.h"
#include "config/options.h"
#include "pg/values.h"

#include <algorithm>
#include <cstring>

namespace pg2iceberg::pg {

std::string OneLine(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return s;
}

StatusCode CodeForSqlState(const std::string& st) {
  if (st.rfind("08", 0) == 0) return StatusCode::kUnavailable;       // connection exception
  if (st == "57P01" || st == "57P02" || st == "57P03") return StatusCode::kUnavailable;
  if (st == "40001" || st == "40P01") return StatusCode::kAborted;    // serialization, deadlock
  if (st == "53100") return StatusCode::kResourceExhausted;           // disk full
  if (st == "53200" || st == "53300") return StatusCode::kResourceExhausted;
  if (st == "42P01" || st == "42704" || st == "3D000" || st == "3F000") {
    return StatusCode::kNotFound;
  }
  if (st == "42P07" || st == "42710" || st == "23505") return StatusCode::kAlreadyExists;
  if (st.rfind("28", 0) == 0 || st == "42501") return StatusCode::kFailedPrecondition;
  if (st.rfind("22", 0) == 0 || st.rfind("42", 0) == 0) return StatusCode::kInvalidArgument;
  if (st == "57014") return StatusCode::kCancelled;
  return StatusCode::kInternal;
}

std::string ConnectionOrigin::Setting(const std::string& name) const {
  return url ? "the " + name + " in " + key : key + "." + name;
}

std::string ConnectionOrigin::EnvVar(const std::string& name) const {
  return config::EnvNameFor(url ? key : key + "." + name);
}

Status ConnectFailure(const std::string& msg, const std::string& display,
                      const ConnectionOrigin& origin) {
  auto has = [&](std::string_view part) { return msg.find(part) != std::string::npos; };
  // Two settings at once; in a URL both sit in one key: "the user and the password in
  // state.postgres_url" rather than naming the key twice.
  auto both = [&](const std::string& a, const std::string& b) {
    return origin.url ? "the " + a + " and the " + b + " in " + origin.key
                      : origin.Setting(a) + " and " + origin.Setting(b);
  };
  const std::string user = origin.Setting("user");
  const std::string password = origin.Setting("password");
  const std::string sslmode = origin.Setting("sslmode");
  StatusCode code = StatusCode::kFailedPrecondition;
  std::string hint;
  if (has("server does not support SSL")) {
    hint = "the server does not accept SSL connections but sslmode requires SSL; set " +
           sslmode + " to prefer or disable, or enable ssl on the server (ssl = on with "
           "ssl_cert_file and ssl_key_file in postgresql.conf)";
  } else if (has("no password supplied")) {
    hint = "the server requires a password and none is configured; set " + password +
           " (or the environment variable " + origin.EnvVar("password") + ")";
  } else if (has("authentication failed")) {  // password, SCRAM, md5, ident, peer
    hint = "the server rejected the credentials; check " + both("user", "password") +
           " (or the environment variable " + origin.EnvVar("password") + "), and the "
           "authentication method for this user in pg_hba.conf";
  } else if (has("no pg_hba.conf entry")) {
    hint = "the server's pg_hba.conf has no line allowing this user, database and client "
           "address; add one and reload PostgreSQL";
    if (has("no encryption")) {
      hint += ", or set " + sslmode + " to require if the server accepts only SSL";
    }
  } else if (has("role \"") && has("does not exist")) {
    hint = "check " + user + ", or create that role on the server";
  } else if (has("database \"") && has("does not exist")) {
    hint = "check " + origin.Setting("database") + ", or create that database on the server";
  } else if (has("certificate")) {  // not verified, host name mismatch, root file missing
    hint = "the server's certificate could not be verified; check " +
           both("sslrootcert", "sslmode") + " (sslrootcert names the CA that signed the "
           "server's certificate; verify-full also needs the host name to match it)";
  } else {
    code = StatusCode::kUnavailable;
    hint = "check that the server is running and reachable at " + both("host", "port");
  }
  return Status(code, "cannot connect to PostgreSQL (" + display + "): " + msg + "; " + hint);
}

Result<std::unique_ptr<Connection>> Connection::Connect(const std::string& conninfo,
                                                        const std::string& display,
                                                        const ConnectionOrigin& origin) {
  // Our sessions read values as text: fix the formats the parsers rely on (pg/values.h).
  const std::string options = SessionOptions();
  // pg_stat_activity shows "pg2iceberg" unless the configuration names the application.
  const char* keys[] = {"dbname", "options", "fallback_application_name", nullptr};
  const char* vals[] = {conninfo.c_str(), options.c_str(), "pg2iceberg", nullptr};
  PGconn* conn = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (conn == nullptr) return ResourceExhausted("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = OneLine(PQerrorMessage(conn));
    PQfinish(conn);
    return ConnectFailure(msg, display, origin);
  }
  // Server notices ("relation already exists, skipping") go to the debug log, not stderr.
  PQsetNoticeProcessor(
      conn,
      [](void*, const char* message) {
        std::string m = message ? message : "";
        while (!m.empty() && m.back() == '\n') m.pop_back();
        log::Debug("postgres notice", {{"message", m}});
      },
      nullptr);
  return std::unique_ptr<Connection>(new Connection(conn, display));
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

Status Connection::ResultStatus(PGresult* res, const std::string& what) {
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::Ok();
  const char* sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string state = sqlstate ? sqlstate : "";
  std::string msg = OneLine(res ? PQresultErrorMessage(res) : PQerrorMessage(conn_));
  if (msg.empty()) msg = OneLine(PQerrorMessage(conn_));
  StatusCode code = state.empty() ? StatusCode::kUnavailable : CodeForSqlState(state);
  if (PQstatus(conn_) == CONNECTION_BAD) code = StatusCode::kUnavailable;
  return Status(code, what + " failed on " + display_ + ": " + msg +
                          (state.empty() ? "" : " (SQLSTATE " + state + ")"));
}

Status Connection::Exec(const std::string& sql) {
  PGresult* res = PQexec(conn_, sql.c_str());
  Status s = ResultStatus(res, "statement");
  PQclear(res);
  return s;
}

Result<QueryResult> Connection::Query(const std::string& sql,
                                      const std::vector<std::string>& params) {
  std::vector<std::optional<std::string>> nullable(params.begin(), params.end());
  return QueryNullable(sql, nullable);
}

Result<QueryResult> Connection::QueryNullable(
    const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  Status s = ResultStatus(res, "query");
  if (!s.ok()) {
    PQclear(res);
    return s;
  }
  QueryResult out;
  const int ncols = PQnfields(res);
  const int nrows = PQntuples(res);
  for (int c = 0; c < ncols; ++c) out.columns.emplace_back(PQfname(res, c));
  out.rows.reserve(nrows);
  for (int r = 0; r < nrows; ++r) {
    std::vector<std::optional<std::string>> row;
    row.reserve(ncols);
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
      }
    }
    out.rows.push_back(std::move(row));
  }
  PQclear(res);
  return out;
}

Result<std::string> Connection::QueryScalar(const std::string& sql) {
  PG2I_ASSIGN_OR_RETURN(QueryResult r, Query(sql));
  if (r.rows.empty() || r.rows[0].empty()) return NotFound("query returned no rows: " + sql);
  return r.rows[0][0].value_or("");
}

Status Connection::CopyOut(const std::string& sql,
                           const std::function<Status(std::string_view)>& on_data) {
  PGresult* res = PQexec(conn_, sql.c_str());
  if (PQresultStatus(res) != PGRES_COPY_OUT) {
    Status s = ResultStatus(res, "copy");
    PQclear(res);
    return s.ok() ? Internal("not a COPY TO STDOUT: " + sql) : s;
  }
  PQclear(res);
  Status failed;
  bool cancelled = false;
  while (true) {
    char* buf = nullptr;
    const int len = PQgetCopyData(conn_, &buf, /*async=*/0);
    if (len < 0) break;  // -1: the copy ended; -2: an error, reported by the result below
    if (failed.ok()) {
      failed = on_data(std::string_view(buf, static_cast<size_t>(len)));
    }
    PQfreemem(buf);
    if (!failed.ok() && !cancelled) {
      // Stop the server sending the rest; what is already on its way is drained.
      cancelled = true;
      if (PGcancel* cancel = PQgetCancel(conn_)) {
        char err[256];
        (void)PQcancel(cancel, err, sizeof err);
        PQfreeCancel(cancel);
      }
    }
  }
  Status ended;
  while ((res = PQgetResult(conn_)) != nullptr) {
    if (ended.ok() && !cancelled) ended = ResultStatus(res, "copy");
    PQclear(res);
  }
  if (!failed.ok()) return failed;
  return ended;
}

int Connection::ServerVersion() const { return PQserverVersion(conn_); }

Result<std::unique_ptr<Connection>> ConnectWithRetry(const std::string& conninfo,
                                                     const std::string& display,
                                                     const ConnectionOrigin& origin,
                                                     int attempts, Clock* clock) {
  std::chrono::milliseconds delay(500);
  for (int i = 1;; ++i) {
    auto conn = Connection::Connect(conninfo, display, origin);
    if (conn.ok() || conn.status().code() != StatusCode::kUnavailable || i >= attempts) {
      return conn;
    }
    metrics::CountError("postgres", conn.status().code());
    log::Warn("PostgreSQL unavailable; retrying",
              {{"attempt", i}, {"of", attempts}, {"in_ms", static_cast<int64_t>(delay.count())},
               {"error", conn.status().message()}});
    clock->SleepFor(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(30'000));
  }
}

}  // namespace pg2iceberg::pg

#include "pg/connection.h"

#include "base/log.h"
#include "pg/values.h"

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

Result<std::unique_ptr<Connection>> Connection::Connect(const std::string& conninfo,
                                                        const std::string& display) {
  // Our sessions read values as text: fix the formats the parsers rely on (pg/values.h).
  const std::string options = SessionOptions();
  const char* keys[] = {"dbname", "options", nullptr};
  const char* vals[] = {conninfo.c_str(), options.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (conn == nullptr) return ResourceExhausted("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = OneLine(PQerrorMessage(conn));
    PQfinish(conn);
    // libpq does not expose a SQLSTATE for connection failures; classify by its text.
    StatusCode code = StatusCode::kUnavailable;
    std::string hint = "check that the server is running and reachable";
    if (msg.find("password authentication failed") != std::string::npos ||
        msg.find("no pg_hba.conf entry") != std::string::npos ||
        msg.find("does not exist") != std::string::npos ||
        msg.find("no password supplied") != std::string::npos) {
      code = StatusCode::kFailedPrecondition;
      hint = "check source.postgres user, password and database, and pg_hba.conf";
    }
    return Status(code, "cannot connect to PostgreSQL (" + display + "): " + msg + "; " + hint);
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
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
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

int Connection::ServerVersion() const { return PQserverVersion(conn_); }

}  // namespace pg2iceberg::pg

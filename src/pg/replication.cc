#include "pg/replication.h"

#include <libpq-fe.h>
#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pg/catalog.h"
#include "pg/connection.h"
#include "pg/values.h"

namespace pg2iceberg::pg {
namespace {

void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

Status ExplainSetupError(const Status& s, const std::string& user) {
  if (s.ok()) return s;
  const std::string& m = s.message();
  const std::string who = user.empty() ? "<user>" : QuoteIdent(user);
  auto with = [&](StatusCode code, const std::string& hint) {
    return Status(code, m + "; " + hint);
  };
  if (m.find("wal_level") != std::string::npos) {
    return with(StatusCode::kFailedPrecondition,
                "run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL");
  }
  if (m.find("must be superuser or replication role") != std::string::npos ||
      m.find("permission denied to start WAL sender") != std::string::npos ||
      m.find("must have REPLICATION") != std::string::npos ||
      (m.find("replication") != std::string::npos && m.find("permission denied") != std::string::npos)) {
    return with(StatusCode::kFailedPrecondition,
                "grant the privilege: ALTER ROLE " + who + " REPLICATION;");
  }
  if (m.find("all replication slots are in use") != std::string::npos) {
    return with(StatusCode::kResourceExhausted,
                "raise max_replication_slots (restart needed) or drop unused slots listed in "
                "pg_replication_slots");
  }
  if (m.find("max_wal_senders") != std::string::npos ||
      m.find("number of requested standby connections") != std::string::npos) {
    return with(StatusCode::kResourceExhausted,
                "raise max_wal_senders (restart needed) or stop other replication clients "
                "listed in pg_stat_replication");
  }
  if (m.find("no pg_hba.conf entry for replication") != std::string::npos) {
    return with(StatusCode::kFailedPrecondition,
                "add a pg_hba.conf line allowing database connections with replication for "
                "this user and host, then reload PostgreSQL");
  }
  if (m.find("permission denied for database") != std::string::npos) {
    return with(StatusCode::kFailedPrecondition,
                "creating a publication needs CREATE on the database: GRANT CREATE ON "
                "DATABASE <db> TO " + who + "; or have an owner create it");
  }
  if (m.find("must be owner of") != std::string::npos) {
    return with(StatusCode::kFailedPrecondition,
                "adding a table to a publication needs ownership of the table; have its "
                "owner or a superuser run ALTER PUBLICATION … ADD TABLE");
  }
  if (m.find("publication") != std::string::npos && m.find("does not exist") != std::string::npos) {
    return with(StatusCode::kFailedPrecondition,
                "create the publication (pg2iceberg does it when it may) or fix "
                "source.logical.publication_name");
  }
  return s;
}

Result<std::unique_ptr<ReplicationConnection>> ReplicationConnection::Connect(
    const std::string& conninfo, const std::string& display) {
  // Expand the caller's string and add replication=database, which a URL cannot take
  // positionally in every form; libpq's expand_dbname does it for both URL and keyword forms.
  const std::string options = SessionOptions();
  const char* keys[] = {"dbname", "replication", "options", "fallback_application_name", nullptr};
  const char* vals[] = {conninfo.c_str(), "database", options.c_str(), "pg2iceberg", nullptr};
  PGconn* conn = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (conn == nullptr) return ResourceExhausted("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = OneLine(PQerrorMessage(conn));
    std::string user = PQuser(conn) ? PQuser(conn) : "";
    PQfinish(conn);
    Status s(StatusCode::kUnavailable,
             "cannot open a replication connection to PostgreSQL (" + display + "): " + msg);
    Status explained = ExplainSetupError(s, user);
    if (explained.message() == s.message()) {
      return Status(s.code(), s.message() + "; check that the server is running and reachable");
    }
    return explained;
  }
  return std::unique_ptr<ReplicationConnection>(new ReplicationConnection(conn, display));
}

ReplicationConnection::~ReplicationConnection() {
  if (conn_) PQfinish(conn_);
}

int ReplicationConnection::ServerVersion() const { return PQserverVersion(conn_); }

Result<std::vector<std::vector<std::string>>> ReplicationConnection::Command(
    const std::string& sql, const std::string& what) {
  PGresult* res = PQexec(conn_, sql.c_str());
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    std::string msg = OneLine(PQresultErrorMessage(res));
    StatusCode code = state ? CodeForSqlState(state) : StatusCode::kUnavailable;
    PQclear(res);
    return ExplainSetupError(
        Status(code, what + " failed on " + display_ + ": " + msg +
                         (state ? std::string(" (SQLSTATE ") + state + ")" : "")),
        PQuser(conn_) ? PQuser(conn_) : "");
  }
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(res); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(res); ++c) {
      row.emplace_back(PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c));
    }
    rows.push_back(std::move(row));
  }
  PQclear(res);
  return rows;
}

Result<SystemIdentity> ReplicationConnection::IdentifySystem() {
  PG2I_ASSIGN_OR_RETURN(auto rows, Command("IDENTIFY_SYSTEM", "IDENTIFY_SYSTEM"));
  if (rows.size() != 1 || rows[0].size() < 4) {
    return DataLoss("IDENTIFY_SYSTEM returned an unexpected result on " + display_);
  }
  SystemIdentity id;
  id.system_id = rows[0][0];
  id.timeline = std::atoi(rows[0][1].c_str());
  PG2I_ASSIGN_OR_RETURN(id.xlogpos, Lsn::Parse(rows[0][2]));
  id.dbname = rows[0][3];
  return id;
}

Result<CreatedSlot> ReplicationConnection::CreateSlot(const std::string& name,
                                                      bool export_snapshot, bool temporary) {
  std::string sql = "CREATE_REPLICATION_SLOT " + QuoteIdent(name) +
                    (temporary ? " TEMPORARY" : "") + " LOGICAL pgoutput (SNAPSHOT " +
                    (export_snapshot ? "'export'" : "'nothing'") + ")";
  PG2I_ASSIGN_OR_RETURN(auto rows, Command(sql, "creating replication slot " + name));
  if (rows.size() != 1 || rows[0].size() < 4) {
    return DataLoss("CREATE_REPLICATION_SLOT returned an unexpected result");
  }
  CreatedSlot s;
  s.slot_name = rows[0][0];
  PG2I_ASSIGN_OR_RETURN(s.consistent_point, Lsn::Parse(rows[0][1]));
  s.snapshot_name = rows[0][2];
  return s;
}

Status ReplicationConnection::DropSlot(const std::string& name) {
  return Command("DROP_REPLICATION_SLOT " + QuoteIdent(name) + " WAIT",
                 "dropping replication slot " + name)
      .status();
}

Status ReplicationConnection::StartReplication(const std::string& slot, Lsn start,
                                               const StreamOptions& o) {
  if (o.publications.empty()) return InvalidArgument("START_REPLICATION needs a publication");
  std::string pubs;
  for (const auto& p : o.publications) {
    if (!pubs.empty()) pubs += ",";
    pubs += QuoteIdent(p);
  }
  int proto = o.proto_version;
  bool streaming = o.streaming && proto >= 2 && ServerVersion() >= 140000;
  if (proto >= 2 && ServerVersion() < 140000) proto = 1;
  std::string sql = "START_REPLICATION SLOT " + QuoteIdent(slot) + " LOGICAL " +
                    start.ToString() + " (proto_version " +
                    QuoteLiteral(std::to_string(proto)) + ", publication_names " +
                    QuoteLiteral(pubs);
  if (streaming) sql += ", streaming 'on'";
  if (o.messages) sql += ", messages 'true'";
  sql += ")";
  PGresult* res = PQexec(conn_, sql.c_str());
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COPY_BOTH) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    std::string msg = OneLine(PQresultErrorMessage(res));
    StatusCode code = state ? CodeForSqlState(state) : StatusCode::kUnavailable;
    PQclear(res);
    return ExplainSetupError(Status(code, "START_REPLICATION on slot " + slot + " failed on " +
                                              display_ + ": " + msg),
                             PQuser(conn_) ? PQuser(conn_) : "");
  }
  PQclear(res);
  return Status::Ok();
}

Result<std::optional<StreamEvent>> ReplicationConnection::Receive(
    std::chrono::milliseconds timeout) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    char* buf = nullptr;
    int len = PQgetCopyData(conn_, &buf, /*async=*/1);
    if (len == 0) {
      if (attempt == 1) return std::optional<StreamEvent>();
      int fd = PQsocket(conn_);
      fd_set rfds;
      FD_ZERO(&rfds);
      FD_SET(fd, &rfds);
      timeval tv{static_cast<time_t>(timeout.count() / 1000),
                 static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
      int rc = select(fd + 1, &rfds, nullptr, nullptr, &tv);
      if (rc < 0 && errno != EINTR) return Unavailable("select() on replication socket failed");
      if (rc <= 0) return std::optional<StreamEvent>();
      if (!PQconsumeInput(conn_)) {
        return Unavailable("replication connection to " + display_ +
                           " failed: " + OneLine(PQerrorMessage(conn_)));
      }
      continue;
    }
    if (len == -1) {
      PGresult* res = PQgetResult(conn_);
      std::string msg = res ? OneLine(PQresultErrorMessage(res)) : "";
      if (res) PQclear(res);
      return Unavailable("the server ended the replication stream on " + display_ +
                         (msg.empty() ? "" : ": " + msg));
    }
    if (len == -2) {
      return Unavailable("replication connection to " + display_ +
                         " failed: " + OneLine(PQerrorMessage(conn_)));
    }
    std::string_view msg(buf, static_cast<size_t>(len));
    Result<std::optional<StreamEvent>> out = DataLoss("malformed CopyData message");
    if (msg[0] == 'w' && msg.size() >= 25) {
      XLogData x;
      x.wal_start = Lsn(GetU64(msg.data() + 1));
      x.wal_end = Lsn(GetU64(msg.data() + 9));
      x.send_time_micros = static_cast<int64_t>(GetU64(msg.data() + 17));
      x.payload.assign(msg.substr(25));
      out = std::optional<StreamEvent>(std::move(x));
    } else if (msg[0] == 'k' && msg.size() >= 18) {
      Keepalive k;
      k.wal_end = Lsn(GetU64(msg.data() + 1));
      k.send_time_micros = static_cast<int64_t>(GetU64(msg.data() + 9));
      k.reply_requested = msg[17] != 0;
      out = std::optional<StreamEvent>(k);
    }
    PQfreemem(buf);
    return out;
  }
  return std::optional<StreamEvent>();
}

Status ReplicationConnection::SendStandbyStatus(Lsn written, Lsn flushed, Lsn applied,
                                                int64_t now_pg_micros, bool reply_requested) {
  std::string msg = "r";
  PutU64(&msg, written.value());
  PutU64(&msg, flushed.value());
  PutU64(&msg, applied.value());
  PutU64(&msg, static_cast<uint64_t>(now_pg_micros));
  msg.push_back(reply_requested ? 1 : 0);
  if (PQputCopyData(conn_, msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(conn_) != 0) {
    return Unavailable("sending a standby status update to " + display_ +
                       " failed: " + OneLine(PQerrorMessage(conn_)));
  }
  return Status::Ok();
}

ReplicationStream::ReplicationStream(std::unique_ptr<ReplicationConnection> conn, Lsn start,
                                     Options options)
    : conn_(std::move(conn)),
      options_(options),
      clock_(options.clock ? options.clock : Clock::Real()),
      confirmed_(start),
      reported_(start),
      received_(start),
      last_commit_end_(start),
      keepalive_end_(start),
      server_end_(start),
      last_status_(clock_->Monotonic()) {}

void ReplicationStream::Confirm(Lsn lsn) {
  if (lsn > confirmed_) confirmed_ = lsn;
}

bool ReplicationStream::Idle() const {
  return !in_transaction_ && open_streams_.empty() && confirmed_ >= last_commit_end_;
}

void ReplicationStream::Track(const Message& m) {
  if (std::holds_alternative<BeginMsg>(m)) {
    in_transaction_ = true;
  } else if (const auto* c = std::get_if<CommitMsg>(&m)) {
    in_transaction_ = false;
    if (c->end_lsn > last_commit_end_) last_commit_end_ = c->end_lsn;
  } else if (const auto* s = std::get_if<StreamStartMsg>(&m)) {
    open_streams_.insert(s->xid);
  } else if (const auto* sc = std::get_if<StreamCommitMsg>(&m)) {
    open_streams_.erase(sc->xid);
    if (sc->end_lsn > last_commit_end_) last_commit_end_ = sc->end_lsn;
  } else if (const auto* sa = std::get_if<StreamAbortMsg>(&m)) {
    if (sa->subxid == sa->xid) open_streams_.erase(sa->xid);
  }
}

Status ReplicationStream::MaybeSendStatus(bool force, bool reply_requested) {
  const auto now = clock_->Monotonic();
  if (!force && now - last_status_ < options_.standby_interval) return Status::Ok();
  Lsn flush = confirmed_;
  if (Idle() && keepalive_end_ > flush) flush = keepalive_end_;
  const int64_t pg_now =
      std::chrono::duration_cast<std::chrono::microseconds>(clock_->Now().time_since_epoch())
          .count() -
      PgTimestamp::kPgEpochOffsetMicros;
  if (flush > reported_ && options_.before_ack) PG2I_RETURN_IF_ERROR(options_.before_ack(flush));
  Lsn written = received_ > flush ? received_ : flush;
  PG2I_RETURN_IF_ERROR(conn_->SendStandbyStatus(written, flush, flush, pg_now, reply_requested));
  reported_ = flush;
  last_status_ = now;
  return Status::Ok();
}

Status ReplicationStream::SendStatus(bool reply_requested) {
  return MaybeSendStatus(/*force=*/true, reply_requested);
}

Result<std::optional<ReplicationStream::Received>> ReplicationStream::Next(
    std::chrono::milliseconds timeout) {
  const auto deadline = clock_->Monotonic() + timeout;
  while (true) {
    PG2I_RETURN_IF_ERROR(MaybeSendStatus(false, false));
    auto now = clock_->Monotonic();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    // Wake up in time for the next status update even when the caller waits long.
    auto until_status = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_status_ + options_.standby_interval - now);
    auto wait = std::max(std::chrono::milliseconds(0), std::min(left, until_status));
    PG2I_ASSIGN_OR_RETURN(std::optional<StreamEvent> ev, conn_->Receive(wait));
    if (!ev) {
      if (clock_->Monotonic() >= deadline) return std::optional<Received>();
      continue;
    }
    if (const auto* k = std::get_if<Keepalive>(&*ev)) {
      if (k->wal_end > keepalive_end_) keepalive_end_ = k->wal_end;
      if (k->wal_end > server_end_) server_end_ = k->wal_end;
      if (k->reply_requested) PG2I_RETURN_IF_ERROR(MaybeSendStatus(true, false));
      if (clock_->Monotonic() >= deadline) return std::optional<Received>();
      continue;
    }
    auto& x = std::get<XLogData>(*ev);
    if (x.wal_start > received_) received_ = x.wal_start;
    if (x.wal_end > server_end_) server_end_ = x.wal_end;
    PG2I_ASSIGN_OR_RETURN(Message m, decoder_.Decode(x.payload));
    Track(m);
    return std::optional<Received>(Received{x.wal_start, std::move(m)});
  }
}

}  // namespace pg2iceberg::pg

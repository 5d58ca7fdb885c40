// PostgreSQL's streaming replication protocol for logical slots, over libpq in
// `replication=database` mode: IDENTIFY_SYSTEM, CREATE/DROP_REPLICATION_SLOT, START_REPLICATION
// with pgoutput, and the CopyBoth loop (XLogData, primary keepalives, standby status updates).
//
// ReplicationConnection speaks the protocol; it has no policy. ReplicationStream adds the
// policy the durability protocol needs:
//   - the LSN reported as flushed is exactly what the caller Confirm()ed (durably staged and
//     registered), never more — except
//   - when nothing received is pending (no open transaction or stream, and everything
//     committed so far is confirmed), the flushed LSN follows the server's keepalive
//     position, so an idle pipeline never makes PostgreSQL retain WAL (DESIGN.md rule 6);
//   - keepalives that request a reply are answered at once; otherwise a status update goes
//     out every `standby_interval`.
// Neither class is thread-safe; one thread owns a stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/types.h"
#include "pg/pgoutput.h"

typedef struct pg_conn PGconn;

namespace pg2iceberg::pg {

struct SystemIdentity {
  std::string system_id;
  int timeline = 0;
  Lsn xlogpos;
  std::string dbname;
};

struct CreatedSlot {
  std::string slot_name;
  Lsn consistent_point;
  std::string snapshot_name;  // empty unless created with an exported snapshot
};

struct StreamOptions {
  int proto_version = 2;  // 1, or 2 with streaming of in-progress transactions
  bool streaming = true;  // only with proto_version >= 2 and PostgreSQL >= 14
  bool messages = false;  // pg_logical_emit_message() content
  std::vector<std::string> publications;
};

struct XLogData {
  Lsn wal_start;
  Lsn wal_end;
  int64_t send_time_micros = 0;  // PostgreSQL epoch
  std::string payload;           // one pgoutput message
};
struct Keepalive {
  Lsn wal_end;
  int64_t send_time_micros = 0;
  bool reply_requested = false;
};
using StreamEvent = std::variant<XLogData, Keepalive>;

class ReplicationConnection {
 public:
  // `conninfo` is an ordinary libpq string; replication=database is added here.
  static Result<std::unique_ptr<ReplicationConnection>> Connect(const std::string& conninfo,
                                                                const std::string& display);
  ~ReplicationConnection();
  ReplicationConnection(const ReplicationConnection&) = delete;
  ReplicationConnection& operator=(const ReplicationConnection&) = delete;

  Result<SystemIdentity> IdentifySystem();
  // `export_snapshot`: SNAPSHOT 'export' (the name is valid until the next command on this
  // connection); otherwise SNAPSHOT 'nothing'.
  Result<CreatedSlot> CreateSlot(const std::string& name, bool export_snapshot,
                                 bool temporary = false);
  Status DropSlot(const std::string& name);
  Status StartReplication(const std::string& slot, Lsn start, const StreamOptions& options);

  // Next CopyBoth message, waiting at most `timeout`; nullopt on timeout. Unavailable when the
  // server ends the stream or the connection drops.
  Result<std::optional<StreamEvent>> Receive(std::chrono::milliseconds timeout);
  Status SendStandbyStatus(Lsn written, Lsn flushed, Lsn applied, int64_t now_pg_micros,
                           bool reply_requested);

  int ServerVersion() const;

 private:
  ReplicationConnection(PGconn* conn, std::string display)
      : conn_(conn), display_(std::move(display)) {}
  Result<std::vector<std::vector<std::string>>> Command(const std::string& sql,
                                                        const std::string& what);

  PGconn* conn_;
  std::string display_;
};

// Adds to `s` the fix for the set-up mistakes operators make most often (wal_level, the
// REPLICATION privilege, slots or senders exhausted, publication permissions).
Status ExplainSetupError(const Status& s, const std::string& user);

class ReplicationStream {
 public:
  struct Options {
    std::chrono::milliseconds standby_interval{10'000};
    Clock* clock = nullptr;  // defaults to the real clock
    // Called with the LSN about to be reported as flushed, before the status update is
    // sent, whenever it moved (DESIGN.md rule 2: record it in the coordinator first). An
    // error stops the update from being sent and is returned to the caller.
    std::function<Status(Lsn)> before_ack;
  };

  // Takes ownership of a connection on which StartReplication() succeeded from `start`.
  ReplicationStream(std::unique_ptr<ReplicationConnection> conn, Lsn start, Options options);

  // Next decoded pgoutput message (with the WAL position it arrived at), or nullopt when
  // `timeout` passed without one. Keepalives and status updates are handled inside.
  struct Received {
    Lsn wal_start;
    Message message;
  };
  Result<std::optional<Received>> Next(std::chrono::milliseconds timeout);

  // Everything up to `lsn` is durable downstream; it may be reported as flushed.
  void Confirm(Lsn lsn);
  // Sends a status update now (e.g. at shutdown after the final flush).
  Status SendStatus(bool reply_requested = false);

  Lsn confirmed() const { return confirmed_; }
  // What the last status update reported as flushed.
  Lsn reported_flush() const { return reported_; }
  Lsn received() const { return received_; }
  // The end of the server's WAL as last reported (keepalives, XLogData headers): what the
  // source has written, for lag.
  Lsn server_wal_end() const { return server_end_; }
  // True when nothing received awaits confirmation (see the header comment).
  bool Idle() const;
  const Decoder& decoder() const { return decoder_; }

 private:
  void Track(const Message& m);
  Status MaybeSendStatus(bool force, bool reply_requested);

  std::unique_ptr<ReplicationConnection> conn_;
  Options options_;
  Clock* clock_;
  Decoder decoder_;
  Lsn confirmed_;
  Lsn reported_;
  Lsn received_;
  Lsn last_commit_end_;
  Lsn keepalive_end_;
  Lsn server_end_;
  bool in_transaction_ = false;
  std::set<Xid> open_streams_;
  Clock::MonoTime last_status_;
};

}  // namespace pg2iceberg::pg

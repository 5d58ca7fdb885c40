// A pure decoder of PostgreSQL's `pgoutput` logical replication messages (protocol versions
// 1 and 2): bytes of one XLogData payload in, one typed message out. No I/O, no threads.
//
// The decoder keeps the little state the protocol needs: whether it is inside a streamed
// block (Stream Start … Stream Stop), where every data message carries the xid of its
// transaction, and a cache of Relation messages keyed by relation id so that tuples can be
// matched to their columns. Malformed input (truncated, unknown message kind, a tuple whose
// column count disagrees with its relation) yields InvalidArgument/DataLoss, never a crash
// or an unbounded allocation. Not thread-safe; one decoder per replication connection.
//
// Byte layout: docs/pgoutput.md, and PostgreSQL's "Logical Replication Message Formats".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/status.h"
#include "base/types.h"

namespace pg2iceberg::pg {

// Microseconds since 2000-01-01 00:00:00 UTC, PostgreSQL's epoch.
struct PgTimestamp {
  int64_t micros = 0;
  // Microseconds since the Unix epoch.
  int64_t UnixMicros() const { return micros + kPgEpochOffsetMicros; }
  static constexpr int64_t kPgEpochOffsetMicros = 946'684'800'000'000;
  auto operator<=>(const PgTimestamp&) const = default;
};

// One column of a tuple as sent: NULL, unchanged TOAST ('u': the value was not sent because it
// did not change), text or binary.
struct TupleValue {
  enum class Kind : char { kNull = 'n', kUnchangedToast = 'u', kText = 't', kBinary = 'b' };
  Kind kind = Kind::kNull;
  std::string data;  // for kText and kBinary
  bool operator==(const TupleValue&) const = default;
};
using Tuple = std::vector<TupleValue>;

enum class ReplicaIdentity : char {
  kDefault = 'd',  // primary key
  kNothing = 'n',
  kFull = 'f',
  kIndex = 'i',
};

struct RelationColumn {
  bool key = false;  // part of the replica identity
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool operator==(const RelationColumn&) const = default;
};

struct BeginMsg {
  Lsn final_lsn;
  PgTimestamp commit_time;
  Xid xid;
};
struct CommitMsg {
  uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time;
};
struct OriginMsg {
  Lsn commit_lsn;
  std::string name;
};
struct RelationMsg {
  Xid xid;  // valid only inside a stream block
  RelationId relation_id;
  std::string nspname;
  std::string relname;
  ReplicaIdentity replica_identity = ReplicaIdentity::kDefault;
  std::vector<RelationColumn> columns;
};
struct TypeMsg {
  Xid xid;
  uint32_t type_oid = 0;
  std::string nspname;
  std::string name;
};
struct InsertMsg {
  Xid xid;
  RelationId relation_id;
  Tuple new_tuple;
};
struct UpdateMsg {
  Xid xid;
  RelationId relation_id;
  // 'K': old replica-identity key (sent when the key changed); 'O': the whole old row
  // (REPLICA IDENTITY FULL). Absent when neither applies.
  enum class OldKind : char { kNone = 0, kKey = 'K', kOld = 'O' };
  OldKind old_kind = OldKind::kNone;
  Tuple old_tuple;
  Tuple new_tuple;
};
struct DeleteMsg {
  Xid xid;
  RelationId relation_id;
  UpdateMsg::OldKind old_kind = UpdateMsg::OldKind::kKey;
  Tuple old_tuple;
};
struct TruncateMsg {
  Xid xid;
  bool cascade = false;
  bool restart_identity = false;
  std::vector<RelationId> relation_ids;
};
struct LogicalMessageMsg {
  Xid xid;
  bool transactional = false;
  Lsn lsn;
  std::string prefix;
  std::string content;
};
struct StreamStartMsg {
  Xid xid;
  bool first_segment = false;
};
struct StreamStopMsg {};
struct StreamCommitMsg {
  Xid xid;
  uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time;
};
struct StreamAbortMsg {
  Xid xid;
  Xid subxid;  // equal to xid when the whole transaction aborted
};

using Message = std::variant<BeginMsg, CommitMsg, OriginMsg, RelationMsg, TypeMsg, InsertMsg,
                             UpdateMsg, DeleteMsg, TruncateMsg, LogicalMessageMsg,
                             StreamStartMsg, StreamStopMsg, StreamCommitMsg, StreamAbortMsg>;

class Decoder {
 public:
  // Decodes one pgoutput message. Relation messages also update the relation cache.
  Result<Message> Decode(std::string_view bytes);

  // The last Relation message seen for `id`, or nullptr.
  const RelationMsg* FindRelation(RelationId id) const;

  bool in_stream() const { return in_stream_; }

 private:
  bool in_stream_ = false;
  std::unordered_map<RelationId, RelationMsg> relations_;
};

}  // namespace pg2iceberg::pg

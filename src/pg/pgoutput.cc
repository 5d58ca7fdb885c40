#include "pg/pgoutput.h"

namespace pg2iceberg::pg {
namespace {

// Bounds-checked big-endian reader over one message.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}

  bool U8(uint8_t* v) {
    if (pos_ + 1 > b_.size()) return Fail();
    *v = static_cast<uint8_t>(b_[pos_++]);
    return true;
  }
  bool U16(uint16_t* v) {
    uint64_t x;
    if (!Be(2, &x)) return false;
    *v = static_cast<uint16_t>(x);
    return true;
  }
  bool U32(uint32_t* v) {
    uint64_t x;
    if (!Be(4, &x)) return false;
    *v = static_cast<uint32_t>(x);
    return true;
  }
  bool I32(int32_t* v) {
    uint32_t x;
    if (!U32(&x)) return false;
    *v = static_cast<int32_t>(x);
    return true;
  }
  bool U64(uint64_t* v) { return Be(8, v); }
  bool I64(int64_t* v) {
    uint64_t x;
    if (!Be(8, &x)) return false;
    *v = static_cast<int64_t>(x);
    return true;
  }
  bool Lsn_(Lsn* v) {
    uint64_t x;
    if (!Be(8, &x)) return false;
    *v = Lsn(x);
    return true;
  }
  bool Xid_(Xid* v) {
    uint32_t x;
    if (!U32(&x)) return false;
    *v = Xid(x);
    return true;
  }
  // NUL-terminated string.
  bool CString(std::string* v) {
    auto end = b_.find('\0', pos_);
    if (end == std::string_view::npos) return Fail();
    v->assign(b_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return true;
  }
  bool Bytes(size_t n, std::string* v) {
    if (n > b_.size() - pos_) return Fail();
    v->assign(b_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  size_t remaining() const { return b_.size() - pos_; }
  bool failed() const { return failed_; }

 private:
  bool Be(int n, uint64_t* v) {
    if (pos_ + n > b_.size()) return Fail();
    uint64_t x = 0;
    for (int i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(b_[pos_ + i]);
    pos_ += n;
    *v = x;
    return true;
  }
  bool Fail() {
    failed_ = true;
    return false;
  }

  std::string_view b_;
  size_t pos_ = 0;
  bool failed_ = false;
};

Status Truncated(char kind) {
  return DataLoss(std::string("pgoutput message '") + kind + "' is truncated or malformed");
}

bool ReadTuple(Reader& r, Tuple* out) {
  uint16_t n;
  if (!r.U16(&n)) return false;
  // Each column takes at least one byte: a count larger than what is left is corrupt.
  if (n > r.remaining()) return false;
  out->clear();
  out->reserve(n);
  for (uint16_t i = 0; i < n; ++i) {
    uint8_t kind;
    if (!r.U8(&kind)) return false;
    TupleValue v;
    switch (kind) {
      case 'n': v.kind = TupleValue::Kind::kNull; break;
      case 'u': v.kind = TupleValue::Kind::kUnchangedToast; break;
      case 't':
      case 'b': {
        v.kind = kind == 't' ? TupleValue::Kind::kText : TupleValue::Kind::kBinary;
        uint32_t len;
        if (!r.U32(&len) || !r.Bytes(len, &v.data)) return false;
        break;
      }
      default: return false;
    }
    out->push_back(std::move(v));
  }
  return true;
}

}  // namespace

const RelationMsg* Decoder::FindRelation(RelationId id) const {
  auto it = relations_.find(id);
  return it == relations_.end() ? nullptr : &it->second;
}

Result<Message> Decoder::Decode(std::string_view bytes) {
  if (bytes.empty()) return DataLoss("empty pgoutput message");
  const char kind = bytes[0];
  Reader r(bytes.substr(1));
  // Inside a stream block, data messages are prefixed by the xid of their transaction.
  auto stream_xid = [&](Xid* xid) { return !in_stream_ || r.Xid_(xid); };
  auto check_tuple_width = [&](RelationId rel, const Tuple& t) -> Status {
    const RelationMsg* m = FindRelation(rel);
    if (m == nullptr) {
      return DataLoss("pgoutput change for relation " + std::to_string(rel.value()) +
                      " arrived before its Relation message");
    }
    if (t.size() != m->columns.size()) {
      return DataLoss("pgoutput tuple for " + m->nspname + "." + m->relname + " has " +
                      std::to_string(t.size()) + " columns but its Relation message has " +
                      std::to_string(m->columns.size()));
    }
    return Status::Ok();
  };

  switch (kind) {
    case 'B': {
      BeginMsg m;
      if (!r.Lsn_(&m.final_lsn) || !r.I64(&m.commit_time.micros) || !r.Xid_(&m.xid)) {
        return Truncated(kind);
      }
      return Message(m);
    }
    case 'C': {
      CommitMsg m;
      if (!r.U8(&m.flags) || !r.Lsn_(&m.commit_lsn) || !r.Lsn_(&m.end_lsn) ||
          !r.I64(&m.commit_time.micros)) {
        return Truncated(kind);
      }
      return Message(m);
    }
    case 'O': {
      OriginMsg m;
      if (!r.Lsn_(&m.commit_lsn) || !r.CString(&m.name)) return Truncated(kind);
      return Message(m);
    }
    case 'R': {
      RelationMsg m;
      uint32_t relid;
      uint8_t ident;
      uint16_t ncols;
      if (!stream_xid(&m.xid) || !r.U32(&relid) || !r.CString(&m.nspname) ||
          !r.CString(&m.relname) || !r.U8(&ident) || !r.U16(&ncols)) {
        return Truncated(kind);
      }
      if (ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i') {
        return DataLoss("pgoutput Relation message has unknown replica identity '" +
                        std::string(1, static_cast<char>(ident)) + "'");
      }
      if (ncols > r.remaining()) return Truncated(kind);
      m.relation_id = RelationId(relid);
      m.replica_identity = static_cast<ReplicaIdentity>(ident);
      m.columns.reserve(ncols);
      for (uint16_t i = 0; i < ncols; ++i) {
        RelationColumn c;
        uint8_t flags;
        if (!r.U8(&flags) || !r.CString(&c.name) || !r.U32(&c.type_oid) ||
            !r.I32(&c.type_modifier)) {
          return Truncated(kind);
        }
        c.key = (flags & 1) != 0;
        m.columns.push_back(std::move(c));
      }
      relations_[m.relation_id] = m;
      return Message(std::move(m));
    }
    case 'Y': {
      TypeMsg m;
      if (!stream_xid(&m.xid) || !r.U32(&m.type_oid) || !r.CString(&m.nspname) ||
          !r.CString(&m.name)) {
        return Truncated(kind);
      }
      return Message(std::move(m));
    }
    case 'I': {
      InsertMsg m;
      uint32_t relid;
      uint8_t n;
      if (!stream_xid(&m.xid) || !r.U32(&relid) || !r.U8(&n) || n != 'N' ||
          !ReadTuple(r, &m.new_tuple)) {
        return Truncated(kind);
      }
      m.relation_id = RelationId(relid);
      PG2I_RETURN_IF_ERROR(check_tuple_width(m.relation_id, m.new_tuple));
      return Message(std::move(m));
    }
    case 'U': {
      UpdateMsg m;
      uint32_t relid;
      uint8_t tag;
      if (!stream_xid(&m.xid) || !r.U32(&relid) || !r.U8(&tag)) return Truncated(kind);
      m.relation_id = RelationId(relid);
      if (tag == 'K' || tag == 'O') {
        m.old_kind = static_cast<UpdateMsg::OldKind>(tag);
        if (!ReadTuple(r, &m.old_tuple) || !r.U8(&tag)) return Truncated(kind);
        PG2I_RETURN_IF_ERROR(check_tuple_width(m.relation_id, m.old_tuple));
      }
      if (tag != 'N' || !ReadTuple(r, &m.new_tuple)) return Truncated(kind);
      PG2I_RETURN_IF_ERROR(check_tuple_width(m.relation_id, m.new_tuple));
      return Message(std::move(m));
    }
    case 'D': {
      DeleteMsg m;
      uint32_t relid;
      uint8_t tag;
      if (!stream_xid(&m.xid) || !r.U32(&relid) || !r.U8(&tag) || (tag != 'K' && tag != 'O') ||
          !ReadTuple(r, &m.old_tuple)) {
        return Truncated(kind);
      }
      m.relation_id = RelationId(relid);
      m.old_kind = static_cast<UpdateMsg::OldKind>(tag);
      PG2I_RETURN_IF_ERROR(check_tuple_width(m.relation_id, m.old_tuple));
      return Message(std::move(m));
    }
    case 'T': {
      TruncateMsg m;
      uint32_t n;
      uint8_t options;
      if (!stream_xid(&m.xid) || !r.U32(&n) || !r.U8(&options)) return Truncated(kind);
      if (n > r.remaining() / 4) return Truncated(kind);
      m.cascade = (options & 1) != 0;
      m.restart_identity = (options & 2) != 0;
      for (uint32_t i = 0; i < n; ++i) {
        uint32_t relid;
        if (!r.U32(&relid)) return Truncated(kind);
        m.relation_ids.emplace_back(relid);
      }
      return Message(std::move(m));
    }
    case 'M': {
      LogicalMessageMsg m;
      uint8_t flags;
      uint32_t len;
      if (!stream_xid(&m.xid) || !r.U8(&flags) || !r.Lsn_(&m.lsn) || !r.CString(&m.prefix) ||
          !r.U32(&len) || !r.Bytes(len, &m.content)) {
        return Truncated(kind);
      }
      m.transactional = (flags & 1) != 0;
      return Message(std::move(m));
    }
    case 'S': {
      StreamStartMsg m;
      uint8_t first;
      if (!r.Xid_(&m.xid) || !r.U8(&first)) return Truncated(kind);
      m.first_segment = first == 1;
      in_stream_ = true;
      return Message(m);
    }
    case 'E': {
      in_stream_ = false;
      return Message(StreamStopMsg{});
    }
    case 'c': {
      StreamCommitMsg m;
      if (!r.Xid_(&m.xid) || !r.U8(&m.flags) || !r.Lsn_(&m.commit_lsn) || !r.Lsn_(&m.end_lsn) ||
          !r.I64(&m.commit_time.micros)) {
        return Truncated(kind);
      }
      return Message(m);
    }
    case 'A': {
      StreamAbortMsg m;
      if (!r.Xid_(&m.xid) || !r.Xid_(&m.subxid)) return Truncated(kind);
      return Message(m);
    }
    default:
      return DataLoss(std::string("unknown pgoutput message kind 0x") +
                      "0123456789abcdef"[(static_cast<uint8_t>(kind) >> 4) & 0xF] +
                      "0123456789abcdef"[static_cast<uint8_t>(kind) & 0xF] +
                      "; two-phase and origin filtering options must stay off");
  }
}

}  // namespace pg2iceberg::pg

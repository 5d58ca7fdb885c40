#include "pg/copy_binary.h"

#include <bit>
#include <cstring>
#include <limits>

#include "pg/values.h"

namespace pg2iceberg::pg {

namespace {

constexpr std::string_view kSignature("PGCOPY\n\377\r\n\0", 11);
// PostgreSQL's epoch (2000-01-01) in days and microseconds after 1970-01-01.
constexpr int64_t kPgEpochDays = 10'957;
constexpr int64_t kPgEpochMicros = kPgEpochDays * 86'400'000'000LL;

uint16_t Be16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}
uint32_t Be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}
uint64_t Be64(const char* p) { return (uint64_t{Be32(p)} << 32) | Be32(p + 4); }

Status WrongLength(const char* type, size_t got) {
  return InvalidArgument(std::string("binary ") + type + " value of " + std::to_string(got) +
                         " bytes");
}

// The text parsers' extremes for ±infinity, found through them so both paths agree.
int32_t DateInfinity(bool positive) {
  auto d = ParseDate(positive ? "infinity" : "-infinity", nullptr);
  return d.ok() ? *d : 0;
}
int64_t TimestampInfinity(bool positive) {
  auto t = ParseTimestamp(positive ? "infinity" : "-infinity", false, nullptr);
  return t.ok() ? *t : 0;
}

Result<int64_t> TimestampOf(std::string_view b) {
  if (b.size() != 8) return WrongLength("timestamp", b.size());
  const auto pg = static_cast<int64_t>(Be64(b.data()));
  if (pg == std::numeric_limits<int64_t>::max()) return TimestampInfinity(true);
  if (pg == std::numeric_limits<int64_t>::min()) return TimestampInfinity(false);
  const __int128 v = static_cast<__int128>(pg) + kPgEpochMicros;
  if (v > std::numeric_limits<int64_t>::max()) return TimestampInfinity(true);
  return static_cast<int64_t>(v);
}

}  // namespace

bool BinaryDecodable(const Type& type, uint32_t base_oid) {
  switch (base_oid) {
    case oid::kBool: return type.id == TypeId::kBoolean;
    case oid::kInt2:
    case oid::kInt4: return type.id == TypeId::kInt;
    case oid::kInt8: return type.id == TypeId::kLong;
    case oid::kFloat4: return type.id == TypeId::kFloat;
    case oid::kFloat8: return type.id == TypeId::kDouble;
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName: return type.id == TypeId::kString;
    case oid::kBytea: return type.id == TypeId::kBinary;
    case oid::kUuid: return type.id == TypeId::kUuid;
    case oid::kDate: return type.id == TypeId::kDate;
    case oid::kTimestamp: return type.id == TypeId::kTimestamp;
    case oid::kTimestamptz: return type.id == TypeId::kTimestampTz;
    default: return false;
  }
}

Result<Value> ParseBinary(const Type& type, uint32_t base_oid, std::string_view b) {
  switch (base_oid) {
    case oid::kBool:
      if (b.size() != 1) return WrongLength("boolean", b.size());
      return Value(b[0] != 0);
    case oid::kInt2:
      if (b.size() != 2) return WrongLength("smallint", b.size());
      return Value(static_cast<int32_t>(static_cast<int16_t>(Be16(b.data()))));
    case oid::kInt4:
      if (b.size() != 4) return WrongLength("integer", b.size());
      return Value(static_cast<int32_t>(Be32(b.data())));
    case oid::kInt8:
      if (b.size() != 8) return WrongLength("bigint", b.size());
      return Value(static_cast<int64_t>(Be64(b.data())));
    case oid::kFloat4:
      if (b.size() != 4) return WrongLength("real", b.size());
      return Value(std::bit_cast<float>(Be32(b.data())));
    case oid::kFloat8:
      if (b.size() != 8) return WrongLength("double precision", b.size());
      return Value(std::bit_cast<double>(Be64(b.data())));
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName: return Value(std::string(b));
    case oid::kBytea: return Value(Binary{std::string(b)});
    case oid::kUuid: {
      if (b.size() != 16) return WrongLength("uuid", b.size());
      Uuid u;  // the 16 bytes in the order the text form spells them
      std::memcpy(u.bytes.data(), b.data(), 16);
      return Value(u);
    }
    case oid::kDate: {
      if (b.size() != 4) return WrongLength("date", b.size());
      const auto pg = static_cast<int32_t>(Be32(b.data()));
      if (pg == std::numeric_limits<int32_t>::max()) return Value(Date{DateInfinity(true)});
      if (pg == std::numeric_limits<int32_t>::min()) return Value(Date{DateInfinity(false)});
      return Value(Date{static_cast<int32_t>(pg + kPgEpochDays)});
    }
    case oid::kTimestamp: {
      PG2I_ASSIGN_OR_RETURN(int64_t us, TimestampOf(b));
      return Value(Timestamp{us});
    }
    case oid::kTimestamptz: {
      PG2I_ASSIGN_OR_RETURN(int64_t us, TimestampOf(b));
      return Value(TimestampTz{us});
    }
    default: break;
  }
  return InvalidArgument("no binary decoding for type oid " + std::to_string(base_oid) + " (" +
                         type.ToString() + ")");
}

Status BinaryCopyReader::Feed(std::string_view data,
                              const std::function<Status(const BinaryRow&)>& on_row) {
  if (carry_.empty()) {
    PG2I_RETURN_IF_ERROR(Parse(&data, on_row));
    carry_.assign(data);
    return Status::Ok();
  }
  carry_.append(data);
  std::string_view in(carry_);
  PG2I_RETURN_IF_ERROR(Parse(&in, on_row));
  carry_.erase(0, carry_.size() - in.size());
  return Status::Ok();
}

Status BinaryCopyReader::Parse(std::string_view* in,
                               const std::function<Status(const BinaryRow&)>& on_row) {
  std::string_view s = *in;
  if (!header_done_) {
    if (s.size() < kSignature.size() + 8) return Status::Ok();
    if (s.substr(0, kSignature.size()) != kSignature) {
      return DataLoss("binary COPY stream without its signature");
    }
    const uint32_t ext = Be32(s.data() + kSignature.size() + 4);
    if (s.size() < kSignature.size() + 8 + ext) return Status::Ok();
    s.remove_prefix(kSignature.size() + 8 + ext);
    header_done_ = true;
  }
  while (!s.empty()) {
    if (trailer_seen_) return DataLoss("binary COPY stream continues after its trailer");
    if (s.size() < 2) break;
    const auto fields = static_cast<int16_t>(Be16(s.data()));
    if (fields == -1) {
      trailer_seen_ = true;
      s.remove_prefix(2);
      continue;
    }
    if (fields < 0 || static_cast<size_t>(fields) != columns_) {
      return DataLoss("binary COPY row of " + std::to_string(fields) + " fields where " +
                      std::to_string(columns_) + " were selected");
    }
    size_t pos = 2;
    row_.clear();
    bool whole = true;
    for (size_t f = 0; f < columns_; ++f) {
      if (s.size() < pos + 4) {
        whole = false;
        break;
      }
      const auto len = static_cast<int32_t>(Be32(s.data() + pos));
      pos += 4;
      if (len == -1) {
        row_.emplace_back(std::nullopt);
        continue;
      }
      if (len < 0) return DataLoss("binary COPY field of negative length");
      if (s.size() < pos + static_cast<size_t>(len)) {
        whole = false;
        break;
      }
      row_.emplace_back(s.substr(pos, static_cast<size_t>(len)));
      pos += static_cast<size_t>(len);
    }
    if (!whole) break;
    PG2I_RETURN_IF_ERROR(on_row(row_));
    s.remove_prefix(pos);
  }
  *in = s;
  return Status::Ok();
}

Status BinaryCopyReader::Finish() const {
  if (!header_done_ || !trailer_seen_ || !carry_.empty()) {
    return DataLoss("binary COPY stream ended early (no trailer, or a partial row)");
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::pg

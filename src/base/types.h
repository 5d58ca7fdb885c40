// Strong types for the domain's identifiers, so an LSN is never passed where an xid or a
// snapshot id is expected. All are trivially copyable values; formatting and parsing are pure.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "base/status.h"

namespace pg2iceberg {

// A position in PostgreSQL's write-ahead log. Text form is PostgreSQL's "XXXXXXXX/XXXXXXXX"
// (upper hex, high and low 32 bits). Lsn() is InvalidXLogRecPtr (0/0).
class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }
  constexpr bool valid() const { return value_ != 0; }

  // Parses "16/B374D848" (either case, 1–8 hex digits each side).
  static Result<Lsn> Parse(std::string_view text);
  std::string ToString() const;

  constexpr auto operator<=>(const Lsn&) const = default;

  // Bytes of WAL between two positions; 0 if `later` is not after `earlier`.
  static constexpr uint64_t BytesBetween(Lsn earlier, Lsn later) {
    return later.value_ > earlier.value_ ? later.value_ - earlier.value_ : 0;
  }

 private:
  uint64_t value_ = 0;
};

std::ostream& operator<<(std::ostream& os, Lsn lsn);

// PostgreSQL transaction id as sent by pgoutput (32 bits; wraparound is PostgreSQL's concern).
class Xid {
 public:
  constexpr Xid() = default;
  constexpr explicit Xid(uint32_t value) : value_(value) {}
  constexpr uint32_t value() const { return value_; }
  constexpr bool valid() const { return value_ != 0; }
  constexpr auto operator<=>(const Xid&) const = default;

 private:
  uint32_t value_ = 0;
};

// PostgreSQL relation oid as used by pgoutput's Relation message.
class RelationId {
 public:
  constexpr RelationId() = default;
  constexpr explicit RelationId(uint32_t value) : value_(value) {}
  constexpr uint32_t value() const { return value_; }
  constexpr auto operator<=>(const RelationId&) const = default;

 private:
  uint32_t value_ = 0;
};

// Iceberg snapshot id (a positive 63-bit number chosen by the writer).
class SnapshotId {
 public:
  constexpr SnapshotId() = default;
  constexpr explicit SnapshotId(int64_t value) : value_(value) {}
  constexpr int64_t value() const { return value_; }
  constexpr bool valid() const { return value_ > 0; }
  constexpr auto operator<=>(const SnapshotId&) const = default;

 private:
  int64_t value_ = -1;
};

}  // namespace pg2iceberg

template <>
struct std::hash<pg2iceberg::Lsn> {
  size_t operator()(pg2iceberg::Lsn l) const noexcept { return std::hash<uint64_t>{}(l.value()); }
};
template <>
struct std::hash<pg2iceberg::RelationId> {
  size_t operator()(pg2iceberg::RelationId r) const noexcept {
    return std::hash<uint32_t>{}(r.value());
  }
};

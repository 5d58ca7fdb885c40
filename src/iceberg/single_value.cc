#include "iceberg/single_value.h"

#include <bit>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

namespace pg2iceberg::iceberg {
namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000LL;

template <typename T>
const char* RepresentationName() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  if constexpr (std::is_same_v<T, int32_t>) return "int32";
  if constexpr (std::is_same_v<T, int64_t>) return "int64";
  if constexpr (std::is_same_v<T, float>) return "float";
  if constexpr (std::is_same_v<T, double>) return "double";
  if constexpr (std::is_same_v<T, Decimal128>) return "Decimal128";
  if constexpr (std::is_same_v<T, Date>) return "Date";
  if constexpr (std::is_same_v<T, Time>) return "Time";
  if constexpr (std::is_same_v<T, Timestamp>) return "Timestamp";
  if constexpr (std::is_same_v<T, TimestampTz>) return "TimestampTz";
  if constexpr (std::is_same_v<T, std::string>) return "string";
  if constexpr (std::is_same_v<T, Uuid>) return "Uuid";
  if constexpr (std::is_same_v<T, Binary>) return "Binary";
  return "?";
}

template <typename T>
Status Expect(const Type& type, const Value& value) {
  if (std::holds_alternative<T>(value)) return Status::Ok();
  return InvalidArgument("value " + DebugString(value) + " is not a " + type.ToString() +
                         " (expected the " + RepresentationName<T>() + " representation)");
}

void AppendLittleEndian(std::string& out, uint64_t bits, int size) {
  for (int i = 0; i < size; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

uint64_t ReadLittleEndian(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  }
  return v;
}

Status WrongLength(const Type& type, std::string_view bytes, std::string_view expected) {
  return DataLoss("single-value bytes for " + type.ToString() + " have length " +
                  std::to_string(bytes.size()) + ", expected " + std::string(expected));
}

// Decodes UTF-8 into code points, rejecting overlong forms, surrogates and values past
// U+10FFFF, as a strict decoder must.
Result<std::vector<char32_t>> DecodeUtf8(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    int extra = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      extra = 1;
      cp = b0 & 0x1F;
      min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      extra = 2;
      cp = b0 & 0x0F;
      min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      extra = 3;
      cp = b0 & 0x07;
      min = 0x10000;
    } else {
      return InvalidArgument("invalid UTF-8 lead byte at offset " + std::to_string(i));
    }
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= s.size()) {
        return InvalidArgument("truncated UTF-8 sequence at offset " + std::to_string(i));
      }
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) {
        return InvalidArgument("invalid UTF-8 continuation byte at offset " +
                               std::to_string(i + k));
      }
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return InvalidArgument("invalid UTF-8 sequence at offset " + std::to_string(i));
    }
    out.push_back(cp);
    i += 1 + extra;
  }
  return out;
}

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

Status CheckLength(int32_t length) {
  if (length > 0) return Status::Ok();
  return InvalidArgument("bound truncation length must be positive, got " +
                         std::to_string(length));
}

}  // namespace

Status CheckValueType(const Type& type, const Value& value) {
  if (IsNull(value))
    return InvalidArgument("null has no " + type.ToString() + " representation");
  switch (type.id) {
    case TypeId::kBoolean:
      return Expect<bool>(type, value);
    case TypeId::kInt:
      return Expect<int32_t>(type, value);
    case TypeId::kLong:
      return Expect<int64_t>(type, value);
    case TypeId::kFloat:
      return Expect<float>(type, value);
    case TypeId::kDouble:
      return Expect<double>(type, value);
    case TypeId::kDecimal: {
      PG2I_RETURN_IF_ERROR(Expect<Decimal128>(type, value));
      const auto& d = std::get<Decimal128>(value);
      if (d.scale != type.scale) {
        return InvalidArgument("decimal " + d.ToString() + " has scale " +
                               std::to_string(d.scale) + ", but the type is " +
                               type.ToString());
      }
      return Status::Ok();
    }
    case TypeId::kDate:
      return Expect<Date>(type, value);
    case TypeId::kTime:
      return Expect<Time>(type, value);
    case TypeId::kTimestamp:
      return Expect<Timestamp>(type, value);
    case TypeId::kTimestampTz:
      return Expect<TimestampTz>(type, value);
    case TypeId::kString:
      return Expect<std::string>(type, value);
    case TypeId::kUuid:
      return Expect<Uuid>(type, value);
    case TypeId::kBinary:
      return Expect<Binary>(type, value);
  }
  return Internal("unknown type id");
}

std::string MinimalBigEndianBytes(__int128 value) {
  const auto u = static_cast<unsigned __int128>(value);
  std::string full(16, '\0');
  for (int i = 0; i < 16; ++i) {
    full[15 - i] = static_cast<char>(static_cast<uint8_t>((u >> (8 * i)) & 0xff));
  }
  // Drop leading bytes that only repeat the sign, keeping the byte whose top bit carries it.
  size_t start = 0;
  while (start < 15) {
    const auto b = static_cast<uint8_t>(full[start]);
    const auto next = static_cast<uint8_t>(full[start + 1]);
    if ((b == 0x00 && (next & 0x80) == 0) || (b == 0xFF && (next & 0x80) != 0)) {
      ++start;
    } else {
      break;
    }
  }
  return full.substr(start);
}

Result<__int128> FromBigEndianBytes(std::string_view bytes) {
  if (bytes.empty() || bytes.size() > 16) {
    return DataLoss("decimal bytes have length " + std::to_string(bytes.size()) +
                    ", expected 1 to 16");
  }
  const bool negative = (static_cast<uint8_t>(bytes[0]) & 0x80) != 0;
  unsigned __int128 u = negative ? ~static_cast<unsigned __int128>(0) : 0;
  for (char c : bytes) u = (u << 8) | static_cast<uint8_t>(c);
  return static_cast<__int128>(u);
}

Result<std::string> SerializeSingleValue(const Type& type, const Value& value) {
  PG2I_RETURN_IF_ERROR(CheckValueType(type, value));
  std::string out;
  switch (type.id) {
    case TypeId::kBoolean:
      out.push_back(std::get<bool>(value) ? '\x01' : '\x00');
      break;
    case TypeId::kInt:
      AppendLittleEndian(out, static_cast<uint32_t>(std::get<int32_t>(value)), 4);
      break;
    case TypeId::kLong:
      AppendLittleEndian(out, static_cast<uint64_t>(std::get<int64_t>(value)), 8);
      break;
    case TypeId::kFloat:
      AppendLittleEndian(out, std::bit_cast<uint32_t>(std::get<float>(value)), 4);
      break;
    case TypeId::kDouble:
      AppendLittleEndian(out, std::bit_cast<uint64_t>(std::get<double>(value)), 8);
      break;
    case TypeId::kDecimal:
      out = MinimalBigEndianBytes(std::get<Decimal128>(value).unscaled);
      break;
    case TypeId::kDate:
      AppendLittleEndian(out, static_cast<uint32_t>(std::get<Date>(value).days), 4);
      break;
    case TypeId::kTime:
      AppendLittleEndian(out, static_cast<uint64_t>(std::get<Time>(value).micros), 8);
      break;
    case TypeId::kTimestamp:
      AppendLittleEndian(out, static_cast<uint64_t>(std::get<Timestamp>(value).micros), 8);
      break;
    case TypeId::kTimestampTz:
      AppendLittleEndian(out, static_cast<uint64_t>(std::get<TimestampTz>(value).micros), 8);
      break;
    case TypeId::kString:
      out = std::get<std::string>(value);
      break;
    case TypeId::kUuid: {
      const auto& b = std::get<Uuid>(value).bytes;
      out.assign(reinterpret_cast<const char*>(b.data()), b.size());
      break;
    }
    case TypeId::kBinary:
      out = std::get<Binary>(value).bytes;
      break;
  }
  return out;
}

Result<Value> DeserializeSingleValue(const Type& type, std::string_view bytes) {
  switch (type.id) {
    case TypeId::kBoolean:
      if (bytes.size() != 1) return WrongLength(type, bytes, "1");
      return Value(bytes[0] != 0);
    case TypeId::kInt:
      if (bytes.size() != 4) return WrongLength(type, bytes, "4");
      return Value(static_cast<int32_t>(static_cast<uint32_t>(ReadLittleEndian(bytes))));
    case TypeId::kLong:
      if (bytes.size() == 4) {  // written while the column was an int
        return Value(static_cast<int64_t>(
            static_cast<int32_t>(static_cast<uint32_t>(ReadLittleEndian(bytes)))));
      }
      if (bytes.size() != 8) return WrongLength(type, bytes, "8 (or 4 for a promoted int)");
      return Value(static_cast<int64_t>(ReadLittleEndian(bytes)));
    case TypeId::kFloat:
      if (bytes.size() != 4) return WrongLength(type, bytes, "4");
      return Value(std::bit_cast<float>(static_cast<uint32_t>(ReadLittleEndian(bytes))));
    case TypeId::kDouble:
      if (bytes.size() == 4) {  // written while the column was a float
        return Value(static_cast<double>(
            std::bit_cast<float>(static_cast<uint32_t>(ReadLittleEndian(bytes)))));
      }
      if (bytes.size() != 8) return WrongLength(type, bytes, "8 (or 4 for a promoted float)");
      return Value(std::bit_cast<double>(ReadLittleEndian(bytes)));
    case TypeId::kDecimal: {
      PG2I_ASSIGN_OR_RETURN(__int128 unscaled, FromBigEndianBytes(bytes));
      return Value(Decimal128{unscaled, type.scale});
    }
    case TypeId::kDate:
      if (bytes.size() != 4) return WrongLength(type, bytes, "4");
      return Value(Date{static_cast<int32_t>(static_cast<uint32_t>(ReadLittleEndian(bytes)))});
    case TypeId::kTime:
      if (bytes.size() != 8) return WrongLength(type, bytes, "8");
      return Value(Time{static_cast<int64_t>(ReadLittleEndian(bytes))});
    case TypeId::kTimestamp:
      if (bytes.size() == 4) {  // written while the column was a date
        const auto days = static_cast<int32_t>(static_cast<uint32_t>(ReadLittleEndian(bytes)));
        return Value(Timestamp{static_cast<int64_t>(days) * kMicrosPerDay});
      }
      if (bytes.size() != 8) return WrongLength(type, bytes, "8 (or 4 for a promoted date)");
      return Value(Timestamp{static_cast<int64_t>(ReadLittleEndian(bytes))});
    case TypeId::kTimestampTz:
      if (bytes.size() != 8) return WrongLength(type, bytes, "8");
      return Value(TimestampTz{static_cast<int64_t>(ReadLittleEndian(bytes))});
    case TypeId::kString:
      return Value(std::string(bytes));
    case TypeId::kUuid: {
      if (bytes.size() != 16) return WrongLength(type, bytes, "16");
      Uuid u;
      std::memcpy(u.bytes.data(), bytes.data(), 16);
      return Value(u);
    }
    case TypeId::kBinary:
      return Value(Binary{std::string(bytes)});
  }
  return Internal("unknown type id");
}

Result<std::string> TruncateStringLowerBound(std::string_view utf8, int32_t length) {
  PG2I_RETURN_IF_ERROR(CheckLength(length));
  PG2I_ASSIGN_OR_RETURN(auto cps, DecodeUtf8(utf8));
  if (cps.size() <= static_cast<size_t>(length)) return std::string(utf8);
  std::string out;
  for (int32_t i = 0; i < length; ++i) AppendUtf8(out, cps[i]);
  return out;
}

Result<std::optional<std::string>> TruncateStringUpperBound(std::string_view utf8,
                                                            int32_t length) {
  PG2I_RETURN_IF_ERROR(CheckLength(length));
  PG2I_ASSIGN_OR_RETURN(auto cps, DecodeUtf8(utf8));
  if (cps.size() <= static_cast<size_t>(length)) {
    return std::optional<std::string>(std::string(utf8));
  }
  for (int32_t i = length - 1; i >= 0; --i) {
    char32_t next = cps[i] + 1;
    if (next >= 0xD800 && next <= 0xDFFF) next = 0xE000;
    if (next > 0x10FFFF) continue;
    std::string out;
    for (int32_t j = 0; j < i; ++j) AppendUtf8(out, cps[j]);
    AppendUtf8(out, next);
    return std::optional<std::string>(std::move(out));
  }
  return std::optional<std::string>();
}

Result<std::string> TruncateBinaryLowerBound(std::string_view bytes, int32_t length) {
  PG2I_RETURN_IF_ERROR(CheckLength(length));
  return std::string(bytes.substr(0, static_cast<size_t>(length)));
}

Result<std::optional<std::string>> TruncateBinaryUpperBound(std::string_view bytes,
                                                            int32_t length) {
  PG2I_RETURN_IF_ERROR(CheckLength(length));
  if (bytes.size() <= static_cast<size_t>(length)) {
    return std::optional<std::string>(std::string(bytes));
  }
  for (int32_t i = length - 1; i >= 0; --i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    if (b == 0xFF) continue;
    std::string out(bytes.substr(0, static_cast<size_t>(i)));
    out.push_back(static_cast<char>(b + 1));
    return std::optional<std::string>(std::move(out));
  }
  return std::optional<std::string>();
}

Result<Value> TruncateLowerBound(const Value& value, int32_t length) {
  if (IsNull(value)) return InvalidArgument("a null value has no bound");
  if (const auto* s = std::get_if<std::string>(&value)) {
    PG2I_ASSIGN_OR_RETURN(std::string t, TruncateStringLowerBound(*s, length));
    return Value(std::move(t));
  }
  if (const auto* b = std::get_if<Binary>(&value)) {
    PG2I_ASSIGN_OR_RETURN(std::string t, TruncateBinaryLowerBound(b->bytes, length));
    return Value(Binary{std::move(t)});
  }
  return value;
}

Result<std::optional<Value>> TruncateUpperBound(const Value& value, int32_t length) {
  if (IsNull(value)) return InvalidArgument("a null value has no bound");
  if (const auto* s = std::get_if<std::string>(&value)) {
    PG2I_ASSIGN_OR_RETURN(auto t, TruncateStringUpperBound(*s, length));
    if (!t) return std::optional<Value>();
    return std::optional<Value>(Value(std::move(*t)));
  }
  if (const auto* b = std::get_if<Binary>(&value)) {
    PG2I_ASSIGN_OR_RETURN(auto t, TruncateBinaryUpperBound(b->bytes, length));
    if (!t) return std::optional<Value>();
    return std::optional<Value>(Value(Binary{std::move(*t)}));
  }
  return std::optional<Value>(value);
}

}  // namespace pg2iceberg::iceberg

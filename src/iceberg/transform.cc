#include "iceberg/transform.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <system_error>
#include <variant>

#include "iceberg/murmur3.h"
#include "iceberg/single_value.h"

namespace pg2iceberg::iceberg {
namespace {

constexpr int64_t kMicrosPerHour = 3'600'000'000LL;
constexpr int64_t kMicrosPerDay = 86'400'000'000LL;
constexpr int32_t kEpochYear = 1970;

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

struct CivilDate {
  int64_t year;
  int32_t month;  // 1..12
  int32_t day;    // 1..31
};

// Proleptic Gregorian date of a day count from 1970-01-01. Works in 400-year eras that start
// on March 1st, so the leap day is the last day of its year and months have fixed offsets.
CivilDate CivilFromDays(int64_t days) {
  const int64_t z = days + 719468;  // days from 0000-03-01
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;  // [0, 11], March=0
  const auto day = static_cast<int32_t>(doy - (153 * mp + 2) / 5 + 1);
  const auto month = static_cast<int32_t>(mp < 10 ? mp + 3 : mp - 9);
  return CivilDate{yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

std::string TypeNames(std::span<const TypeId> ids) {
  std::string out;
  for (TypeId id : ids) {
    if (!out.empty()) out += ", ";
    out += Type{id}.ToString();
  }
  return out;
}

bool OneOf(TypeId id, std::span<const TypeId> ids) {
  for (TypeId x : ids) {
    if (x == id) return true;
  }
  return false;
}

constexpr TypeId kBucketTypes[] = {
    TypeId::kInt,       TypeId::kLong,        TypeId::kDecimal, TypeId::kDate, TypeId::kTime,
    TypeId::kTimestamp, TypeId::kTimestampTz, TypeId::kString,  TypeId::kUuid, TypeId::kBinary};
constexpr TypeId kTruncateTypes[] = {TypeId::kInt, TypeId::kLong, TypeId::kDecimal,
                                     TypeId::kString, TypeId::kBinary};
constexpr TypeId kDateTypes[] = {TypeId::kDate, TypeId::kTimestamp, TypeId::kTimestampTz};
constexpr TypeId kHourTypes[] = {TypeId::kTimestamp, TypeId::kTimestampTz};

std::string_view KindName(TransformKind kind) {
  switch (kind) {
    case TransformKind::kIdentity:
      return "identity";
    case TransformKind::kBucket:
      return "bucket";
    case TransformKind::kTruncate:
      return "truncate";
    case TransformKind::kYear:
      return "year";
    case TransformKind::kMonth:
      return "month";
    case TransformKind::kDay:
      return "day";
    case TransformKind::kHour:
      return "hour";
    case TransformKind::kVoid:
      return "void";
  }
  return "?";
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

// Days from 1970-01-01 of a date or timestamp value; the caller has checked the type.
int64_t DaysOf(const Value& v) {
  if (const auto* d = std::get_if<Date>(&v)) return d->days;
  if (const auto* t = std::get_if<Timestamp>(&v)) return FloorDiv(t->micros, kMicrosPerDay);
  return FloorDiv(std::get<TimestampTz>(v).micros, kMicrosPerDay);
}

int64_t MicrosOf(const Value& v) {
  if (const auto* t = std::get_if<Timestamp>(&v)) return t->micros;
  return std::get<TimestampTz>(v).micros;
}

Result<Value> FitInt(int64_t v, std::string_view what) {
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return InvalidArgument(std::string(what) + " " + std::to_string(v) +
                           " does not fit a 32-bit partition value");
  }
  return Value(static_cast<int32_t>(v));
}

Type TypeOfValue(const Value& v) {
  struct Visitor {
    Type operator()(std::monostate) const { return Type{TypeId::kString}; }
    Type operator()(bool) const { return Type{TypeId::kBoolean}; }
    Type operator()(int32_t) const { return Type{TypeId::kInt}; }
    Type operator()(int64_t) const { return Type{TypeId::kLong}; }
    Type operator()(float) const { return Type{TypeId::kFloat}; }
    Type operator()(double) const { return Type{TypeId::kDouble}; }
    Type operator()(const Decimal128& d) const { return Type::Decimal(38, d.scale); }
    Type operator()(Date) const { return Type{TypeId::kDate}; }
    Type operator()(Time) const { return Type{TypeId::kTime}; }
    Type operator()(Timestamp) const { return Type{TypeId::kTimestamp}; }
    Type operator()(TimestampTz) const { return Type{TypeId::kTimestampTz}; }
    Type operator()(const std::string&) const { return Type{TypeId::kString}; }
    Type operator()(const Uuid&) const { return Type{TypeId::kUuid}; }
    Type operator()(const Binary&) const { return Type{TypeId::kBinary}; }
  };
  return std::visit(Visitor{}, v);
}

// ---- Human-readable strings, following Iceberg Java's TransformUtil and java.time ----

std::string Format(const char* fmt, int64_t a) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), fmt, static_cast<long long>(a));
  return buf;
}

// String.format("%04d-%02d-%02d", …) of a day count (TransformUtil.humanDay).
std::string HumanDay(int64_t days) {
  const CivilDate c = CivilFromDays(days);
  return Format("%04lld", c.year) + Format("-%02lld", c.month) + Format("-%02lld", c.day);
}

// java.time's ISO_LOCAL_DATE year: four digits, a sign only when negative or past 9999.
std::string IsoYear(int64_t year) {
  if (year > 9999) return "+" + std::to_string(year);
  if (year < 0) return "-" + Format("%04lld", -year);
  return Format("%04lld", year);
}

// The fraction java.time's ISO formatters print: nothing for zero, else the nanoseconds with
// trailing zeros removed.
std::string IsoFraction(int64_t nanos) {
  if (nanos == 0) return "";
  std::string digits = Format("%09lld", nanos);
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return "." + digits;
}

// DateTimeFormatter.ISO_LOCAL_DATE_TIME of microseconds from the epoch.
std::string IsoLocalDateTime(int64_t micros) {
  const int64_t days = FloorDiv(micros, kMicrosPerDay);
  const int64_t in_day = FloorMod(micros, kMicrosPerDay);
  const CivilDate c = CivilFromDays(days);
  const int64_t secs = in_day / 1'000'000;
  return IsoYear(c.year) + Format("-%02lld", c.month) + Format("-%02lld", c.day) +
         Format("T%02lld", secs / 3600) + Format(":%02lld", (secs / 60) % 60) +
         Format(":%02lld", secs % 60) + IsoFraction((in_day % 1'000'000) * 1000);
}

// LocalTime.toString: "HH:mm", then ":ss" unless seconds and fraction are zero, then the
// fraction in groups of 3, 6 or 9 digits.
std::string JavaLocalTime(int64_t micros_of_day) {
  const int64_t secs = micros_of_day / 1'000'000;
  const int64_t nanos = (micros_of_day % 1'000'000) * 1000;
  std::string out = Format("%02lld", secs / 3600) + Format(":%02lld", (secs / 60) % 60);
  if (secs % 60 == 0 && nanos == 0) return out;
  out += Format(":%02lld", secs % 60);
  if (nanos == 0) return out;
  if (nanos % 1'000'000 == 0) return out + Format(".%03lld", nanos / 1'000'000);
  if (nanos % 1000 == 0) return out + Format(".%06lld", nanos / 1000);
  return out + Format(".%09lld", nanos);
}

// Java's Double.toString / Float.toString (JDK 19+, shortest round-trip digits): plain
// notation with at least one fractional digit for 1e-3 <= |x| < 1e7, else "d.dddE±n".
template <typename F>
std::string JavaFloatingToString(F x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string sign;
  if (sci.front() == '-') {
    sign = "-";
    sci.remove_prefix(1);
  }
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp = 0;
  std::string_view exp_text = sci.substr(e_pos + 1);
  if (!exp_text.empty() && exp_text.front() == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);

  if (exp >= -3 && exp < 7) {
    if (exp < 0) return sign + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    std::string int_part =
        digits.substr(0, std::min(digits.size(), static_cast<size_t>(exp + 1)));
    int_part.append(static_cast<size_t>(exp + 1) - int_part.size(), '0');
    std::string frac =
        digits.size() > static_cast<size_t>(exp + 1) ? digits.substr(exp + 1) : "0";
    return sign + int_part + "." + frac;
  }
  const std::string frac = digits.size() > 1 ? digits.substr(1) : "0";
  return sign + digits.substr(0, 1) + "." + frac + "E" + std::to_string(exp);
}

// BigDecimal.toString for a non-negative scale: plain unless the adjusted exponent is below
// -6, then scientific ("1.23E-8", "0E-10").
std::string JavaBigDecimal(const Decimal128& d) {
  const std::string plain = d.ToString();
  unsigned __int128 mag = d.unscaled < 0 ? -static_cast<unsigned __int128>(d.unscaled)
                                         : static_cast<unsigned __int128>(d.unscaled);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(mag % 10)));
    mag /= 10;
  } while (mag != 0);
  const int64_t adjusted =
      -static_cast<int64_t>(d.scale) + static_cast<int64_t>(digits.size()) - 1;
  if (d.scale <= 0 || adjusted >= -6) return plain;
  std::string out = d.unscaled < 0 ? "-" : "";
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  return out + "E" + std::to_string(adjusted);
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const uint32_t n =
        (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string UuidString(const Uuid& u) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < u.bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[u.bytes[i] >> 4];
    out += kHex[u.bytes[i] & 0xf];
  }
  return out;
}

// Identity's human string: Transform.toHumanString(Type, value) by source type.
std::string HumanOfSourceValue(const Type& type, const Value& v) {
  switch (type.id) {
    case TypeId::kBoolean:
      return std::get<bool>(v) ? "true" : "false";
    case TypeId::kInt:
      return std::to_string(std::get<int32_t>(v));
    case TypeId::kLong:
      return std::to_string(std::get<int64_t>(v));
    case TypeId::kFloat:
      return JavaFloatingToString(std::get<float>(v));
    case TypeId::kDouble:
      return JavaFloatingToString(std::get<double>(v));
    case TypeId::kDecimal:
      return JavaBigDecimal(std::get<Decimal128>(v));
    case TypeId::kDate:
      return HumanDay(std::get<Date>(v).days);
    case TypeId::kTime:
      return JavaLocalTime(std::get<Time>(v).micros);
    case TypeId::kTimestamp:
      return IsoLocalDateTime(std::get<Timestamp>(v).micros);
    case TypeId::kTimestampTz:
      return IsoLocalDateTime(std::get<TimestampTz>(v).micros) + "+00:00";
    case TypeId::kString:
      return std::get<std::string>(v);
    case TypeId::kUuid:
      return UuidString(std::get<Uuid>(v));
    case TypeId::kBinary:
      return Base64(std::get<Binary>(v).bytes);
  }
  return "";
}

Result<int32_t> ExpectInt(const Value& v, std::string_view transform) {
  if (const auto* i = std::get_if<int32_t>(&v)) return *i;
  return InvalidArgument("partition value " + DebugString(v) + " of " + std::string(transform) +
                         " is not an int");
}

}  // namespace

Result<Transform> Transform::Bucket(int32_t num_buckets) {
  if (num_buckets <= 0) {
    return InvalidArgument("bucket count must be positive, got " + std::to_string(num_buckets));
  }
  return Transform(TransformKind::kBucket, num_buckets);
}

Result<Transform> Transform::Truncate(int32_t width) {
  if (width <= 0) {
    return InvalidArgument("truncate width must be positive, got " + std::to_string(width));
  }
  return Transform(TransformKind::kTruncate, width);
}

Result<Transform> Transform::Parse(std::string_view text) {
  static constexpr TransformKind kSimple[] = {TransformKind::kIdentity, TransformKind::kYear,
                                              TransformKind::kMonth,    TransformKind::kDay,
                                              TransformKind::kHour,     TransformKind::kVoid};
  for (TransformKind k : kSimple) {
    if (EqualsIgnoreCase(text, KindName(k))) return Transform(k, 0);
  }
  const size_t open = text.find('[');
  if (open != std::string_view::npos && text.size() > open + 2 && text.back() == ']') {
    const std::string_view name = text.substr(0, open);
    const std::string_view digits = text.substr(open + 1, text.size() - open - 2);
    int32_t n = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    const bool numeric = ec == std::errc() && ptr == digits.data() + digits.size() &&
                         digits.front() != '-' && digits.front() != '+';
    if (numeric && EqualsIgnoreCase(name, "bucket")) return Bucket(n);
    if (numeric && EqualsIgnoreCase(name, "truncate")) return Truncate(n);
  }
  return InvalidArgument("unknown partition transform \"" + std::string(text) +
                         "\"; expected identity, year, month, day, hour, void, bucket[N] or "
                         "truncate[W]");
}

std::string Transform::ToString() const {
  if (kind_ == TransformKind::kBucket || kind_ == TransformKind::kTruncate) {
    return std::string(KindName(kind_)) + "[" + std::to_string(param_) + "]";
  }
  return std::string(KindName(kind_));
}

Status Transform::CanApply(const Type& source) const {
  std::span<const TypeId> accepted;
  switch (kind_) {
    case TransformKind::kIdentity:
    case TransformKind::kVoid:
      return Status::Ok();
    case TransformKind::kBucket:
      accepted = kBucketTypes;
      break;
    case TransformKind::kTruncate:
      accepted = kTruncateTypes;
      break;
    case TransformKind::kYear:
    case TransformKind::kMonth:
    case TransformKind::kDay:
      accepted = kDateTypes;
      break;
    case TransformKind::kHour:
      accepted = kHourTypes;
      break;
  }
  if (OneOf(source.id, accepted)) return Status::Ok();
  return InvalidArgument(ToString() + " cannot be applied to " + source.ToString() + "; " +
                         std::string(KindName(kind_)) + " accepts " + TypeNames(accepted));
}

Result<Type> Transform::ResultType(const Type& source) const {
  PG2I_RETURN_IF_ERROR(CanApply(source));
  switch (kind_) {
    case TransformKind::kIdentity:
    case TransformKind::kTruncate:
    case TransformKind::kVoid:
      return source;
    case TransformKind::kBucket:
    case TransformKind::kYear:
    case TransformKind::kMonth:
    case TransformKind::kDay:
    case TransformKind::kHour:
      return Type{TypeId::kInt};
  }
  return Internal("unknown transform kind");
}

Result<Value> Transform::Apply(const Type& source, const Value& value) const {
  PG2I_RETURN_IF_ERROR(CanApply(source));
  if (IsNull(value) || kind_ == TransformKind::kVoid) return Value();
  PG2I_RETURN_IF_ERROR(CheckValueType(source, value));

  switch (kind_) {
    case TransformKind::kIdentity:
      return value;

    case TransformKind::kBucket: {
      PG2I_ASSIGN_OR_RETURN(int32_t hash, IcebergHash(value));
      return Value(static_cast<int32_t>((hash & std::numeric_limits<int32_t>::max()) % param_));
    }

    case TransformKind::kTruncate: {
      // Java's arithmetic: the remainder made non-negative, and int/long results wrapping on
      // overflow (only reachable within W of the type's minimum).
      const int64_t w = param_;
      if (const auto* i = std::get_if<int32_t>(&value)) {
        const int64_t v = *i;
        return Value(static_cast<int32_t>(v - (((v % w) + w) % w)));
      }
      if (const auto* l = std::get_if<int64_t>(&value)) {
        const __int128 v = *l;
        return Value(static_cast<int64_t>(v - (((v % w) + w) % w)));
      }
      if (const auto* d = std::get_if<Decimal128>(&value)) {
        const __int128 v = d->unscaled;
        return Value(Decimal128{v - (((v % w) + w) % w), d->scale});
      }
      if (const auto* s = std::get_if<std::string>(&value)) {
        PG2I_ASSIGN_OR_RETURN(std::string t, TruncateStringLowerBound(*s, param_));
        return Value(std::move(t));
      }
      const auto& b = std::get<Binary>(value);
      return Value(Binary{b.bytes.substr(0, static_cast<size_t>(param_))});
    }

    case TransformKind::kYear: {
      const CivilDate c = CivilFromDays(DaysOf(value));
      return FitInt(c.year - kEpochYear, "year ordinal");
    }
    case TransformKind::kMonth: {
      const CivilDate c = CivilFromDays(DaysOf(value));
      return FitInt((c.year - kEpochYear) * 12 + (c.month - 1), "month ordinal");
    }
    case TransformKind::kDay:
      return FitInt(DaysOf(value), "day ordinal");
    case TransformKind::kHour:
      return FitInt(FloorDiv(MicrosOf(value), kMicrosPerHour), "hour ordinal");

    case TransformKind::kVoid:
      break;
  }
  return Value();
}

Result<Value> Transform::Apply(const Value& value) const {
  if (IsNull(value)) return Value();
  return Apply(TypeOfValue(value), value);
}

Result<std::string> Transform::ToHumanString(const Type& source,
                                             const Value& transformed) const {
  PG2I_RETURN_IF_ERROR(CanApply(source));
  if (IsNull(transformed) || kind_ == TransformKind::kVoid) return std::string("null");
  switch (kind_) {
    case TransformKind::kIdentity:
    case TransformKind::kTruncate:
      PG2I_RETURN_IF_ERROR(CheckValueType(source, transformed));
      return HumanOfSourceValue(source, transformed);
    case TransformKind::kBucket: {
      PG2I_ASSIGN_OR_RETURN(int32_t b, ExpectInt(transformed, "bucket"));
      return std::to_string(b);
    }
    case TransformKind::kYear: {
      PG2I_ASSIGN_OR_RETURN(int32_t y, ExpectInt(transformed, "year"));
      return Format("%04lld", static_cast<int64_t>(kEpochYear) + y);
    }
    case TransformKind::kMonth: {
      PG2I_ASSIGN_OR_RETURN(int32_t m, ExpectInt(transformed, "month"));
      return Format("%04lld", kEpochYear + FloorDiv(m, 12)) +
             Format("-%02lld", 1 + FloorMod(m, 12));
    }
    case TransformKind::kDay: {
      // Java models day's result as a date; accept that representation too.
      if (const auto* d = std::get_if<Date>(&transformed)) return HumanDay(d->days);
      PG2I_ASSIGN_OR_RETURN(int32_t d, ExpectInt(transformed, "day"));
      return HumanDay(d);
    }
    case TransformKind::kHour: {
      PG2I_ASSIGN_OR_RETURN(int32_t h, ExpectInt(transformed, "hour"));
      return HumanDay(FloorDiv(h, 24)) + Format("-%02lld", FloorMod(h, 24));
    }
    case TransformKind::kVoid:
      break;
  }
  return std::string("null");
}

bool Transform::PreservesOrder() const {
  switch (kind_) {
    case TransformKind::kIdentity:
    case TransformKind::kTruncate:
    case TransformKind::kYear:
    case TransformKind::kMonth:
    case TransformKind::kDay:
    case TransformKind::kHour:
      return true;
    case TransformKind::kBucket:
    case TransformKind::kVoid:
      return false;
  }
  return false;
}

Result<int32_t> IcebergHash(const Value& value) {
  struct Visitor {
    Result<int32_t> operator()(std::monostate) const {
      return InvalidArgument("null has no Iceberg hash (bucket of null is null)");
    }
    Result<int32_t> operator()(bool b) const { return Murmur3HashLong(b ? 1 : 0); }
    Result<int32_t> operator()(int32_t i) const { return Murmur3HashLong(i); }
    Result<int32_t> operator()(int64_t l) const { return Murmur3HashLong(l); }
    Result<int32_t> operator()(float f) const { return (*this)(static_cast<double>(f)); }
    Result<int32_t> operator()(double d) const {
      // doubleToLongBits with NaN canonicalised and -0.0 folded into 0.0 (spec note 5).
      uint64_t bits = 0;
      if (std::isnan(d)) {
        bits = 0x7ff8000000000000ULL;
      } else if (d != 0) {
        bits = std::bit_cast<uint64_t>(d);
      }
      return Murmur3HashLong(static_cast<int64_t>(bits));
    }
    Result<int32_t> operator()(const Decimal128& d) const {
      return Murmur3HashBytes(MinimalBigEndianBytes(d.unscaled));
    }
    Result<int32_t> operator()(Date d) const { return Murmur3HashLong(d.days); }
    Result<int32_t> operator()(Time t) const { return Murmur3HashLong(t.micros); }
    Result<int32_t> operator()(Timestamp t) const { return Murmur3HashLong(t.micros); }
    Result<int32_t> operator()(TimestampTz t) const { return Murmur3HashLong(t.micros); }
    Result<int32_t> operator()(const std::string& s) const { return Murmur3HashBytes(s); }
    Result<int32_t> operator()(const Uuid& u) const {
      return Murmur3HashBytes(
          std::string_view(reinterpret_cast<const char*>(u.bytes.data()), u.bytes.size()));
    }
    Result<int32_t> operator()(const Binary& b) const { return Murmur3HashBytes(b.bytes); }
  };
  return std::visit(Visitor{}, value);
}

std::string EscapePartitionPathComponent(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<uint8_t>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '.' || c == '-' || c == '*' || c == '_') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string PartitionPathSegment(std::string_view field_name, std::string_view human_value) {
  return EscapePartitionPathComponent(field_name) + "=" +
         EscapePartitionPathComponent(human_value);
}

}  // namespace pg2iceberg::iceberg

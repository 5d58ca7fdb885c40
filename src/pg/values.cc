#include "pg/values.h"

#include <charconv>
#include <climits>
#include <cmath>

namespace pg2iceberg::pg {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

Status Bad(std::string_view what, std::string_view text) {
  std::string shown(text.substr(0, 64));
  return InvalidArgument("invalid " + std::string(what) + " text \"" + shown + "\"");
}

bool Digits(std::string_view s, size_t* pos, size_t min, size_t max, int64_t* out) {
  size_t start = *pos;
  int64_t v = 0;
  while (*pos < s.size() && *pos - start < max && s[*pos] >= '0' && s[*pos] <= '9') {
    v = v * 10 + (s[*pos] - '0');
    ++*pos;
  }
  if (*pos - start < min) return false;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// " BC" suffix → astronomical year negation (1 BC is year 0).
bool StripBc(std::string_view* s) {
  if (s->size() >= 3 && s->substr(s->size() - 3) == " BC") {
    s->remove_suffix(3);
    return true;
  }
  return false;
}

// Parses "YYYY-MM-DD" at *pos (year has 4+ digits). Returns days since epoch.
bool DatePart(std::string_view s, size_t* pos, bool bc, int64_t* days) {
  int64_t y, m, d;
  if (!Digits(s, pos, 4, 7, &y) || !Expect(s, pos, '-') || !Digits(s, pos, 2, 2, &m) ||
      !Expect(s, pos, '-') || !Digits(s, pos, 2, 2, &d)) {
    return false;
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  if (bc) y = 1 - y;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

// Parses "HH:MM:SS[.ffffff]" at *pos. Returns micros (24:00:00 allowed here).
bool TimePart(std::string_view s, size_t* pos, int64_t* micros) {
  int64_t h, mi, sec;
  if (!Digits(s, pos, 2, 2, &h) || !Expect(s, pos, ':') || !Digits(s, pos, 2, 2, &mi) ||
      !Expect(s, pos, ':') || !Digits(s, pos, 2, 2, &sec)) {
    return false;
  }
  int64_t frac = 0;
  if (*pos < s.size() && s[*pos] == '.') {
    ++*pos;
    size_t start = *pos;
    int64_t f;
    if (!Digits(s, pos, 1, 6, &f)) return false;
    for (size_t n = *pos - start; n < 6; ++n) f *= 10;
    frac = f;
    // More than six digits cannot come from PostgreSQL; refuse rather than truncate.
    if (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') return false;
  }
  if (h > 24 || mi > 59 || sec > 60) return false;
  *micros = ((h * 60 + mi) * 60 + sec) * kMicrosPerSecond + frac;
  return *micros <= kMicrosPerDay;
}

// Parses "+HH[:MM[:SS]]" / "-HH…" at *pos. Returns the offset east of UTC in micros.
bool ZonePart(std::string_view s, size_t* pos, int64_t* offset) {
  if (*pos >= s.size() || (s[*pos] != '+' && s[*pos] != '-')) return false;
  int sign = s[*pos] == '-' ? -1 : 1;
  ++*pos;
  int64_t h, m = 0, sec = 0;
  if (!Digits(s, pos, 2, 2, &h)) return false;
  if (*pos < s.size() && s[*pos] == ':') {
    ++*pos;
    if (!Digits(s, pos, 2, 2, &m)) return false;
    if (*pos < s.size() && s[*pos] == ':') {
      ++*pos;
      if (!Digits(s, pos, 2, 2, &sec)) return false;
    }
  }
  *offset = sign * ((h * 60 + m) * 60 + sec) * kMicrosPerSecond;
  return true;
}

template <typename T>
Result<T> ParseInt(std::string_view text, std::string_view what) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return Bad(what, text);
  return v;
}

template <typename T>
Result<T> ParseFloat(std::string_view text) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (p != text.data() + text.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    return Bad("floating-point", text);
  }
  return v;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// PostgreSQL's finite extremes, used for ±infinity.
const int64_t kMaxDateDays = DaysFromCivil(5874897, 12, 31);
const int64_t kMinDateDays = DaysFromCivil(-4713, 11, 24);
// PostgreSQL's largest timestamp (294276 AD) does not fit in microseconds since 1970 as an
// int64; Iceberg's range ends at 294247-01-10T04:00:54.775807.
const int64_t kMaxTimestamp = INT64_MAX;
const int64_t kMinTimestamp = DaysFromCivil(-4713, 11, 24) * kMicrosPerDay;

void SetNote(ValueNote* note, ValueNote n) {
  if (note) *note = n;
}

}  // namespace

std::string SessionOptions() {
  return "-c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 "
         "-c bytea_output=hex -c TimeZone=UTC";
}

std::string_view ValueNoteName(ValueNote n) {
  switch (n) {
    case ValueNote::kNone: return "none";
    case ValueNote::kNumericSpecialToNull: return "numeric_special_to_null";
    case ValueNote::kNumericRounded: return "numeric_rounded";
    case ValueNote::kNumericOverflowToNull: return "numeric_overflow_to_null";
    case ValueNote::kInfinityClamped: return "infinity_clamped";
    case ValueNote::kTime2400Clamped: return "time_2400_clamped";
  }
  return "none";
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm, valid for the whole proleptic Gregorian calendar.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

TypeMapping MapType(uint32_t base_oid, int32_t typmod) {
  switch (base_oid) {
    case oid::kBool: return {Type{TypeId::kBoolean}, ""};
    case oid::kInt2:
    case oid::kInt4: return {Type{TypeId::kInt}, ""};
    case oid::kInt8: return {Type{TypeId::kLong}, ""};
    case oid::kFloat4: return {Type{TypeId::kFloat}, ""};
    case oid::kFloat8: return {Type{TypeId::kDouble}, ""};
    case oid::kDate: return {Type{TypeId::kDate}, ""};
    case oid::kTime:
    case oid::kTimetz: return {Type{TypeId::kTime}, ""};
    case oid::kTimestamp: return {Type{TypeId::kTimestamp}, ""};
    case oid::kTimestamptz: return {Type{TypeId::kTimestampTz}, ""};
    case oid::kUuid: return {Type{TypeId::kUuid}, ""};
    case oid::kBytea: return {Type{TypeId::kBinary}, ""};
    case oid::kNumeric: {
      if (typmod < 4) {
        return {Type::Decimal(38, 18),
                "unconstrained numeric is stored as decimal(38,18): values are rounded to 18 "
                "fractional digits and values of 10^20 or more become NULL; declare "
                "numeric(p,s) to keep them exact"};
      }
      const int32_t p = ((typmod - 4) >> 16) & 0xFFFF;
      // PostgreSQL 15 stores the scale as an 11-bit signed number (negative scales exist).
      const int32_t s = (((typmod - 4) & 0x7FF) ^ 1024) - 1024;
      const int32_t precision = s < 0 ? p - s : std::max(p, s);
      const int32_t scale = std::max(s, 0);
      if (precision > 38) {
        return {Type{TypeId::kString},
                "numeric(" + std::to_string(p) + "," + std::to_string(s) +
                    ") is wider than Iceberg's 38 digits and is stored as its text"};
      }
      return {Type::Decimal(precision, scale), ""};
    }
    default: return {Type{TypeId::kString}, ""};
  }
}

Result<std::optional<Decimal128>> ParseDecimal(std::string_view text, int32_t precision,
                                               int32_t scale, ValueNote* note) {
  SetNote(note, ValueNote::kNone);
  size_t i = 0;
  bool neg = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) neg = text[i++] == '-';
  std::string_view int_part, frac_part;
  size_t start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  int_part = text.substr(start, i - start);
  if (i < text.size() && text[i] == '.') {
    ++i;
    start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    frac_part = text.substr(start, i - start);
  }
  if (i != text.size() || (int_part.empty() && frac_part.empty())) return Bad("numeric", text);
  while (int_part.size() > 1 && int_part[0] == '0') int_part.remove_prefix(1);
  if (int_part == "0") int_part = {};
  if (static_cast<int32_t>(int_part.size()) > precision - scale) {
    SetNote(note, ValueNote::kNumericOverflowToNull);
    return std::optional<Decimal128>();
  }
  __int128 v = 0;
  for (char c : int_part) v = v * 10 + (c - '0');
  for (int32_t k = 0; k < scale; ++k) {
    v = v * 10 + (k < static_cast<int32_t>(frac_part.size()) ? frac_part[k] - '0' : 0);
  }
  if (static_cast<int32_t>(frac_part.size()) > scale) {
    bool any_nonzero = false;
    for (size_t k = static_cast<size_t>(scale); k < frac_part.size(); ++k) {
      any_nonzero |= frac_part[k] != '0';
    }
    if (any_nonzero) {
      SetNote(note, ValueNote::kNumericRounded);
      if (frac_part[scale] >= '5') ++v;  // half away from zero, as PostgreSQL rounds
    }
  }
  __int128 limit = 1;
  for (int32_t k = 0; k < precision; ++k) limit *= 10;
  if (v >= limit) {
    SetNote(note, ValueNote::kNumericOverflowToNull);
    return std::optional<Decimal128>();
  }
  return std::optional<Decimal128>(Decimal128{neg ? -v : v, scale});
}

Result<int32_t> ParseDate(std::string_view text, ValueNote* note) {
  SetNote(note, ValueNote::kNone);
  if (text == "infinity") {
    SetNote(note, ValueNote::kInfinityClamped);
    return static_cast<int32_t>(kMaxDateDays);
  }
  if (text == "-infinity") {
    SetNote(note, ValueNote::kInfinityClamped);
    return static_cast<int32_t>(kMinDateDays);
  }
  std::string_view s = text;
  bool bc = StripBc(&s);
  size_t pos = 0;
  int64_t days;
  if (!DatePart(s, &pos, bc, &days) || pos != s.size()) return Bad("date", text);
  return static_cast<int32_t>(days);
}

Result<int64_t> ParseTime(std::string_view text, ValueNote* note) {
  SetNote(note, ValueNote::kNone);
  size_t pos = 0;
  int64_t micros;
  if (!TimePart(text, &pos, &micros) || pos != text.size()) return Bad("time", text);
  if (micros == kMicrosPerDay) {
    SetNote(note, ValueNote::kTime2400Clamped);
    return kMicrosPerDay - 1;
  }
  return micros;
}

Result<int64_t> ParseTimetzAsUtc(std::string_view text) {
  size_t pos = 0;
  int64_t micros, offset;
  if (!TimePart(text, &pos, &micros) || !ZonePart(text, &pos, &offset) || pos != text.size()) {
    return Bad("timetz", text);
  }
  int64_t utc = (micros - offset) % kMicrosPerDay;
  if (utc < 0) utc += kMicrosPerDay;
  return utc;
}

Result<int64_t> ParseTimestamp(std::string_view text, bool with_zone, ValueNote* note) {
  SetNote(note, ValueNote::kNone);
  if (text == "infinity") {
    SetNote(note, ValueNote::kInfinityClamped);
    return kMaxTimestamp;
  }
  if (text == "-infinity") {
    SetNote(note, ValueNote::kInfinityClamped);
    return kMinTimestamp;
  }
  std::string_view s = text;
  bool bc = StripBc(&s);
  size_t pos = 0;
  int64_t days, micros, offset = 0;
  if (!DatePart(s, &pos, bc, &days) || !Expect(s, &pos, ' ') || !TimePart(s, &pos, &micros)) {
    return Bad(with_zone ? "timestamptz" : "timestamp", text);
  }
  if (with_zone && !ZonePart(s, &pos, &offset)) return Bad("timestamptz", text);
  if (pos != s.size()) return Bad(with_zone ? "timestamptz" : "timestamp", text);
  const __int128 v = static_cast<__int128>(days) * kMicrosPerDay + micros - offset;
  if (v > kMaxTimestamp) {
    SetNote(note, ValueNote::kInfinityClamped);
    return kMaxTimestamp;
  }
  return static_cast<int64_t>(v);
}

Result<std::string> ParseBytea(std::string_view text) {
  std::string out;
  if (text.size() >= 2 && text[0] == '\\' && text[1] == 'x') {
    if (text.size() % 2 != 0) return Bad("bytea", text);
    out.reserve((text.size() - 2) / 2);
    for (size_t i = 2; i < text.size(); i += 2) {
      int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
      if (hi < 0 || lo < 0) return Bad("bytea", text);
      out.push_back(static_cast<char>((hi << 4) | lo));
    }
    return out;
  }
  // Escape format: "\\" is a backslash, "\ooo" an octal byte, anything else itself.
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '\\') {
      out.push_back('\\');
      ++i;
      continue;
    }
    if (i + 3 < text.size() + 0 && text[i + 1] >= '0' && text[i + 1] <= '3' &&
        text[i + 2] >= '0' && text[i + 2] <= '7' && text[i + 3] >= '0' && text[i + 3] <= '7') {
      out.push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                                      (text[i + 3] - '0')));
      i += 3;
      continue;
    }
    return Bad("bytea", text);
  }
  return out;
}

Result<Uuid> ParseUuid(std::string_view text) {
  Uuid u;
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '-') continue;
    if (i + 1 >= text.size() || n >= 16) return Bad("uuid", text);
    int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return Bad("uuid", text);
    u.bytes[n++] = static_cast<uint8_t>((hi << 4) | lo);
    ++i;
  }
  if (n != 16) return Bad("uuid", text);
  return u;
}

Result<Value> ParseText(const Type& type, uint32_t base_oid, std::string_view text,
                        ValueNote* note) {
  SetNote(note, ValueNote::kNone);
  switch (type.id) {
    case TypeId::kBoolean:
      if (text == "t" || text == "true") return Value(true);
      if (text == "f" || text == "false") return Value(false);
      return Bad("boolean", text);
    case TypeId::kInt: {
      PG2I_ASSIGN_OR_RETURN(int32_t v, ParseInt<int32_t>(text, "integer"));
      return Value(v);
    }
    case TypeId::kLong: {
      PG2I_ASSIGN_OR_RETURN(int64_t v, ParseInt<int64_t>(text, "bigint"));
      return Value(v);
    }
    case TypeId::kFloat: {
      PG2I_ASSIGN_OR_RETURN(float v, ParseFloat<float>(text));
      return Value(v);
    }
    case TypeId::kDouble: {
      PG2I_ASSIGN_OR_RETURN(double v, ParseFloat<double>(text));
      return Value(v);
    }
    case TypeId::kDecimal: {
      if (text == "NaN" || text == "Infinity" || text == "-Infinity") {
        SetNote(note, ValueNote::kNumericSpecialToNull);
        return Value();
      }
      PG2I_ASSIGN_OR_RETURN(std::optional<Decimal128> d,
                            ParseDecimal(text, type.precision, type.scale, note));
      if (!d) return Value();
      return Value(*d);
    }
    case TypeId::kDate: {
      PG2I_ASSIGN_OR_RETURN(int32_t days, ParseDate(text, note));
      return Value(Date{days});
    }
    case TypeId::kTime: {
      if (base_oid == oid::kTimetz) {
        PG2I_ASSIGN_OR_RETURN(int64_t us, ParseTimetzAsUtc(text));
        return Value(Time{us});
      }
      PG2I_ASSIGN_OR_RETURN(int64_t us, ParseTime(text, note));
      return Value(Time{us});
    }
    case TypeId::kTimestamp: {
      PG2I_ASSIGN_OR_RETURN(int64_t us, ParseTimestamp(text, false, note));
      return Value(Timestamp{us});
    }
    case TypeId::kTimestampTz: {
      PG2I_ASSIGN_OR_RETURN(int64_t us, ParseTimestamp(text, true, note));
      return Value(TimestampTz{us});
    }
    case TypeId::kUuid: {
      PG2I_ASSIGN_OR_RETURN(Uuid u, ParseUuid(text));
      return Value(u);
    }
    case TypeId::kBinary: {
      PG2I_ASSIGN_OR_RETURN(std::string b, ParseBytea(text));
      return Value(Binary{std::move(b)});
    }
    case TypeId::kString: return Value(std::string(text));
  }
  return Value(std::string(text));
}

}  // namespace pg2iceberg::pg

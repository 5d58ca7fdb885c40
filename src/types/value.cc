#include "types/value.h"

#include <cstdio>

namespace pg2iceberg {

std::string Type::ToString() const {
  switch (id) {
    case TypeId::kBoolean: return "boolean";
    case TypeId::kInt: return "int";
    case TypeId::kLong: return "long";
    case TypeId::kFloat: return "float";
    case TypeId::kDouble: return "double";
    case TypeId::kDecimal:
      return "decimal(" + std::to_string(precision) + "," + std::to_string(scale) + ")";
    case TypeId::kDate: return "date";
    case TypeId::kTime: return "time";
    case TypeId::kTimestamp: return "timestamp";
    case TypeId::kTimestampTz: return "timestamptz";
    case TypeId::kString: return "string";
    case TypeId::kUuid: return "uuid";
    case TypeId::kBinary: return "binary";
  }
  return "string";
}

Result<Type> Type::Parse(std::string_view name) {
  static const std::pair<std::string_view, TypeId> kSimple[] = {
      {"boolean", TypeId::kBoolean},     {"int", TypeId::kInt},
      {"long", TypeId::kLong},           {"float", TypeId::kFloat},
      {"double", TypeId::kDouble},       {"date", TypeId::kDate},
      {"time", TypeId::kTime},           {"timestamp", TypeId::kTimestamp},
      {"timestamptz", TypeId::kTimestampTz}, {"string", TypeId::kString},
      {"uuid", TypeId::kUuid},           {"binary", TypeId::kBinary},
  };
  for (const auto& [n, id] : kSimple) {
    if (name == n) return Type{id};
  }
  int p = 0;
  int s = 0;
  char tail = 0;
  if (std::sscanf(std::string(name).c_str(), "decimal(%d,%d%c", &p, &s, &tail) == 3 &&
      tail == ')' && p >= 1 && p <= 38 && s >= 0 && s <= p) {
    return Type::Decimal(p, s);
  }
  if (std::sscanf(std::string(name).c_str(), "decimal(%d, %d%c", &p, &s, &tail) == 3 &&
      tail == ')' && p >= 1 && p <= 38 && s >= 0 && s <= p) {
    return Type::Decimal(p, s);
  }
  return InvalidArgument("unsupported Iceberg type \"" + std::string(name) + "\"");
}

std::string Decimal128::ToString() const {
  unsigned __int128 mag = unscaled < 0 ? -static_cast<unsigned __int128>(unscaled)
                                       : static_cast<unsigned __int128>(unscaled);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(mag % 10)));
    mag /= 10;
  } while (mag != 0);
  if (scale > 0) {
    while (static_cast<int32_t>(digits.size()) <= scale) digits.insert(digits.begin(), '0');
    digits.insert(digits.end() - scale, '.');
  }
  return unscaled < 0 ? "-" + digits : digits;
}

Value WidenValue(const Value& v, const Type& to) {
  if (to.id == TypeId::kLong) {
    if (const auto* i = std::get_if<int32_t>(&v)) return Value(static_cast<int64_t>(*i));
  }
  if (to.id == TypeId::kDouble) {
    if (const auto* f = std::get_if<float>(&v)) return Value(static_cast<double>(*f));
  }
  if (to.id == TypeId::kDecimal) {
    if (const auto* d = std::get_if<Decimal128>(&v); d && d->scale < to.scale) {
      Decimal128 out = *d;
      while (out.scale < to.scale) {
        out.unscaled *= 10;
        ++out.scale;
      }
      return Value(out);
    }
  }
  return v;
}

Value WidenValue(Value&& v, const Type& to) {
  // Only numbers widen; anything else is returned as it is.
  if (std::holds_alternative<int32_t>(v) || std::holds_alternative<float>(v) ||
      std::holds_alternative<Decimal128>(v)) {
    return WidenValue(static_cast<const Value&>(v), to);
  }
  return std::move(v);
}

std::string DebugString(const Value& v) {
  struct Visitor {
    std::string operator()(std::monostate) const { return "NULL"; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int32_t i) const { return std::to_string(i); }
    std::string operator()(int64_t i) const { return std::to_string(i) + "L"; }
    std::string operator()(float f) const {
      char b[32];
      std::snprintf(b, sizeof(b), "%.9gf", static_cast<double>(f));
      return b;
    }
    std::string operator()(double d) const {
      char b[32];
      std::snprintf(b, sizeof(b), "%.17g", d);
      return b;
    }
    std::string operator()(const Decimal128& d) const { return d.ToString() + "BD"; }
    std::string operator()(Date d) const { return "date(" + std::to_string(d.days) + ")"; }
    std::string operator()(Time t) const { return "time(" + std::to_string(t.micros) + ")"; }
    std::string operator()(Timestamp t) const {
      return "timestamp(" + std::to_string(t.micros) + ")";
    }
    std::string operator()(TimestampTz t) const {
      return "timestamptz(" + std::to_string(t.micros) + ")";
    }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
    std::string operator()(const Uuid& u) const {
      std::string out = "uuid(";
      char b[3];
      for (uint8_t x : u.bytes) {
        std::snprintf(b, sizeof(b), "%02x", x);
        out += b;
      }
      return out + ")";
    }
    std::string operator()(const Binary& b) const {
      std::string out = "0x";
      char h[3];
      for (unsigned char c : b.bytes) {
        std::snprintf(h, sizeof(h), "%02X", c);
        out += h;
      }
      return out;
    }
  };
  return std::visit(Visitor{}, v);
}

}  // namespace pg2iceberg

#include "avro/datum.h"

#include <bit>
#include <cassert>
#include <cmath>
#include <limits>

namespace pg2iceberg::avro {

using nlohmann::json;

namespace {

const std::string& EmptyString() {
  static const std::string* const kEmpty = new std::string();
  return *kEmpty;
}

template <typename T>
const std::vector<T>& EmptyVector() {
  static const std::vector<T>* const kEmpty = new std::vector<T>();
  return *kEmpty;
}

const Datum& NullDatum() {
  static const Datum* const kNull = new Datum();
  return *kNull;
}

std::string Describe(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// Appends the UTF-8 code points of `s` as bytes; fails on a code point above 255 (the Avro
// JSON encoding of bytes and fixed).
bool CodePointsToBytes(const std::string& s, std::string* out) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      if (cp > 0xFF) return false;
      out->push_back(static_cast<char>(cp));
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

bool Accepts(Type schema_type, Type value_type) {
  if (schema_type == value_type) return true;
  switch (schema_type) {
    case Type::kLong: return value_type == Type::kInt;
    case Type::kFloat: return value_type == Type::kInt || value_type == Type::kLong;
    case Type::kDouble:
      return value_type == Type::kInt || value_type == Type::kLong ||
             value_type == Type::kFloat;
    case Type::kString: return value_type == Type::kBytes;
    case Type::kBytes: return value_type == Type::kString;
    default: return false;
  }
}

Result<Datum> FromJson(const Schema& schema, const json& j, int depth) {
  if (depth > kMaxSchemaDepth) return InvalidArgument("default value nests too deeply");
  auto mismatch = [&]() {
    return InvalidArgument(Describe(j) + " is not a valid " +
                           std::string(TypeName(schema.type())));
  };
  switch (schema.type()) {
    case Type::kNull:
      if (!j.is_null()) return mismatch();
      return Datum::Null();
    case Type::kBoolean:
      if (!j.is_boolean()) return mismatch();
      return Datum::Boolean(j.get<bool>());
    case Type::kInt:
    case Type::kLong: {
      if (!j.is_number_integer()) return mismatch();
      const bool is_int = schema.type() == Type::kInt;
      const int64_t lo = is_int ? std::numeric_limits<int32_t>::min()
                                : std::numeric_limits<int64_t>::min();
      const int64_t hi = is_int ? std::numeric_limits<int32_t>::max()
                                : std::numeric_limits<int64_t>::max();
      if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(hi)) {
        return mismatch();
      }
      int64_t v = j.get<int64_t>();
      if (v < lo || v > hi) return mismatch();
      return is_int ? Datum::Int(static_cast<int32_t>(v)) : Datum::Long(v);
    }
    case Type::kFloat:
    case Type::kDouble: {
      double v = 0;
      if (j.is_number()) {
        v = j.get<double>();
      } else if (j.is_string() && j.get_ref<const std::string&>() == "NaN") {
        v = std::numeric_limits<double>::quiet_NaN();
      } else if (j.is_string() && j.get_ref<const std::string&>() == "Infinity") {
        v = std::numeric_limits<double>::infinity();
      } else if (j.is_string() && j.get_ref<const std::string&>() == "-Infinity") {
        v = -std::numeric_limits<double>::infinity();
      } else {
        return mismatch();
      }
      return schema.type() == Type::kFloat ? Datum::Float(static_cast<float>(v))
                                           : Datum::Double(v);
    }
    case Type::kBytes:
    case Type::kFixed: {
      if (!j.is_string()) return mismatch();
      std::string bytes;
      if (!CodePointsToBytes(j.get_ref<const std::string&>(), &bytes)) return mismatch();
      if (schema.type() == Type::kBytes) return Datum::Bytes(std::move(bytes));
      if (static_cast<int64_t>(bytes.size()) != schema.fixed_size()) return mismatch();
      return Datum::Fixed(std::move(bytes));
    }
    case Type::kString:
      if (!j.is_string()) return mismatch();
      return Datum::String(j.get<std::string>());
    case Type::kEnum: {
      if (!j.is_string()) return mismatch();
      const auto& symbols = schema.symbols();
      const std::string& sym = j.get_ref<const std::string&>();
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (symbols[i] == sym) return Datum::Enum(sym, static_cast<int32_t>(i));
      }
      return mismatch();
    }
    case Type::kRecord: {
      if (!j.is_object()) return mismatch();
      std::vector<Datum::Entry> fields;
      fields.reserve(schema.fields().size());
      for (const Field& f : schema.fields()) {
        auto it = j.find(f.name);
        const json* value = it != j.end() ? &*it : nullptr;
        if (value == nullptr && f.default_value) value = &*f.default_value;
        if (value == nullptr) {
          return InvalidArgument("record value " + Describe(j) + " lacks field \"" + f.name +
                                 "\"");
        }
        PG2I_ASSIGN_OR_RETURN(Datum d, FromJson(f.type, *value, depth + 1));
        fields.emplace_back(f.name, std::move(d));
      }
      return Datum::Record(std::move(fields));
    }
    case Type::kArray: {
      if (!j.is_array()) return mismatch();
      std::vector<Datum> items;
      for (const json& item : j) {
        PG2I_ASSIGN_OR_RETURN(Datum d, FromJson(schema.items(), item, depth + 1));
        items.push_back(std::move(d));
      }
      return Datum::Array(std::move(items));
    }
    case Type::kMap: {
      if (!j.is_object()) return mismatch();
      std::vector<Datum::Entry> entries;
      for (auto it = j.begin(); it != j.end(); ++it) {
        PG2I_ASSIGN_OR_RETURN(Datum d, FromJson(schema.values(), it.value(), depth + 1));
        entries.emplace_back(it.key(), std::move(d));
      }
      return Datum::Map(std::move(entries));
    }
    case Type::kUnion: {
      if (schema.branches().empty()) return mismatch();
      PG2I_ASSIGN_OR_RETURN(Datum d, FromJson(schema.branches()[0], j, depth + 1));
      return Datum::Union(0, std::move(d));
    }
  }
  return mismatch();
}

Result<Datum> ResolveImpl(const Schema& reader, const Datum& value, int depth) {
  if (depth > kMaxSchemaDepth) return InvalidArgument("value nests too deeply");
  const Type rt = reader.type();
  if (rt == Type::kUnion) {
    const Datum& inner = value.Unwrapped();
    const auto& branches = reader.branches();
    for (size_t i = 0; i < branches.size(); ++i) {
      // Exact type first, so ["long","double"] keeps a long a long.
      if (branches[i].type() != inner.type()) continue;
      auto r = ResolveImpl(branches[i], inner, depth + 1);
      if (r.ok()) return Datum::Union(static_cast<int32_t>(i), std::move(r).value());
    }
    for (size_t i = 0; i < branches.size(); ++i) {
      if (branches[i].type() == inner.type() || !Accepts(branches[i].type(), inner.type())) {
        continue;
      }
      auto r = ResolveImpl(branches[i], inner, depth + 1);
      if (r.ok()) return Datum::Union(static_cast<int32_t>(i), std::move(r).value());
    }
    return InvalidArgument("no branch of the reader's union accepts a " +
                           std::string(TypeName(inner.type())));
  }
  if (value.type() == Type::kUnion) return ResolveImpl(reader, value.union_value(), depth + 1);
  if (!Accepts(rt, value.type())) {
    return InvalidArgument("cannot read a " + std::string(TypeName(value.type())) + " as " +
                           std::string(TypeName(rt)));
  }
  switch (rt) {
    case Type::kLong:
      return Datum::Long(value.long_value());
    case Type::kFloat:
      if (value.type() == Type::kFloat) return value;
      return Datum::Float(static_cast<float>(value.long_value()));
    case Type::kDouble:
      if (value.type() == Type::kInt || value.type() == Type::kLong) {
        return Datum::Double(static_cast<double>(value.long_value()));
      }
      return Datum::Double(value.double_value());
    case Type::kString:
      return value.type() == Type::kString ? value : Datum::String(value.bytes_value());
    case Type::kBytes:
      return value.type() == Type::kBytes ? value : Datum::Bytes(value.string_value());
    case Type::kFixed:
      if (static_cast<int64_t>(value.fixed_value().size()) != reader.fixed_size()) {
        return InvalidArgument("fixed of " + std::to_string(value.fixed_value().size()) +
                               " bytes cannot be read as fixed(" +
                               std::to_string(reader.fixed_size()) + ")");
      }
      return value;
    case Type::kEnum: {
      const auto& symbols = reader.symbols();
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (symbols[i] == value.enum_symbol()) {
          return Datum::Enum(symbols[i], static_cast<int32_t>(i));
        }
      }
      if (const json* def = reader.attribute("default"); def != nullptr && def->is_string()) {
        return FromJson(reader, *def, depth + 1);
      }
      return InvalidArgument("enum symbol \"" + value.enum_symbol() +
                             "\" is not in the reader's enum " + reader.full_name());
    }
    case Type::kArray: {
      std::vector<Datum> items;
      items.reserve(value.items().size());
      for (const Datum& item : value.items()) {
        PG2I_ASSIGN_OR_RETURN(Datum d, ResolveImpl(reader.items(), item, depth + 1));
        items.push_back(std::move(d));
      }
      return Datum::Array(std::move(items));
    }
    case Type::kMap: {
      std::vector<Datum::Entry> entries;
      entries.reserve(value.map_entries().size());
      for (const auto& [k, v] : value.map_entries()) {
        PG2I_ASSIGN_OR_RETURN(Datum d, ResolveImpl(reader.values(), v, depth + 1));
        entries.emplace_back(k, std::move(d));
      }
      return Datum::Map(std::move(entries));
    }
    case Type::kRecord: {
      std::vector<Datum::Entry> fields;
      fields.reserve(reader.fields().size());
      for (const Field& f : reader.fields()) {
        const Datum* v = value.FindField(f.name);
        Result<Datum> r = InvalidArgument("missing, and the reader's field has no default");
        if (v != nullptr) {
          r = ResolveImpl(f.type, *v, depth + 1);
        } else if (f.default_value) {
          r = FromJson(f.type, *f.default_value, depth + 1);
        }
        if (!r.ok()) return r.status().WithContext("field \"" + f.name + "\"");
        fields.emplace_back(f.name, std::move(r).value());
      }
      return Datum::Record(std::move(fields));
    }
    default:
      return value;  // null, boolean, int: same type
  }
}

void AppendDebug(const Datum& d, std::string* out) {
  auto quoted = [&](const std::string& s, bool binary) {
    if (!binary) {
      out->append(json(s).dump(-1, ' ', false, json::error_handler_t::replace));
      return;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    out->push_back('"');
    for (unsigned char c : s) {
      out->append("\\x");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
    out->push_back('"');
  };
  switch (d.type()) {
    case Type::kNull: out->append("null"); break;
    case Type::kBoolean: out->append(d.bool_value() ? "true" : "false"); break;
    case Type::kInt:
    case Type::kLong: out->append(std::to_string(d.long_value())); break;
    case Type::kFloat:
    case Type::kDouble: out->append(json(d.double_value()).dump()); break;
    case Type::kBytes: quoted(d.bytes_value(), true); break;
    case Type::kFixed: quoted(d.fixed_value(), true); break;
    case Type::kString: quoted(d.string_value(), false); break;
    case Type::kEnum: quoted(d.enum_symbol(), false); break;
    case Type::kArray:
      out->push_back('[');
      for (size_t i = 0; i < d.items().size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendDebug(d.items()[i], out);
      }
      out->push_back(']');
      break;
    case Type::kRecord:
    case Type::kMap: {
      const auto& entries = d.type() == Type::kRecord ? d.fields() : d.map_entries();
      out->push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out->push_back(',');
        quoted(entries[i].first, false);
        out->push_back(':');
        AppendDebug(entries[i].second, out);
      }
      out->push_back('}');
      break;
    }
    case Type::kUnion:
      out->append("{\"@" + std::to_string(d.union_branch()) + "\":");
      AppendDebug(d.union_value(), out);
      out->push_back('}');
      break;
  }
}

}  // namespace

Datum Datum::Boolean(bool value) {
  Datum d;
  d.type_ = Type::kBoolean;
  d.long_ = value ? 1 : 0;
  return d;
}

Datum Datum::Int(int32_t value) {
  Datum d;
  d.type_ = Type::kInt;
  d.long_ = value;
  return d;
}

Datum Datum::Long(int64_t value) {
  Datum d;
  d.type_ = Type::kLong;
  d.long_ = value;
  return d;
}

Datum Datum::Float(float value) {
  Datum d;
  d.type_ = Type::kFloat;
  d.double_ = value;
  return d;
}

Datum Datum::Double(double value) {
  Datum d;
  d.type_ = Type::kDouble;
  d.double_ = value;
  return d;
}

Datum Datum::Bytes(std::string value) {
  Datum d;
  d.type_ = Type::kBytes;
  d.bytes_ = std::move(value);
  return d;
}

Datum Datum::String(std::string value) {
  Datum d;
  d.type_ = Type::kString;
  d.bytes_ = std::move(value);
  return d;
}

Datum Datum::Fixed(std::string value) {
  Datum d;
  d.type_ = Type::kFixed;
  d.bytes_ = std::move(value);
  return d;
}

Datum Datum::Enum(std::string symbol, int32_t index) {
  Datum d;
  d.type_ = Type::kEnum;
  d.bytes_ = std::move(symbol);
  d.long_ = index;
  return d;
}

Datum Datum::Record(std::vector<Entry> fields) {
  Datum d;
  d.type_ = Type::kRecord;
  d.entries_ = std::move(fields);
  return d;
}

Datum Datum::Array(std::vector<Datum> items) {
  Datum d;
  d.type_ = Type::kArray;
  d.items_ = std::move(items);
  return d;
}

Datum Datum::Map(std::vector<Entry> entries) {
  Datum d;
  d.type_ = Type::kMap;
  d.entries_ = std::move(entries);
  return d;
}

Datum Datum::Union(int32_t branch, Datum value) {
  Datum d;
  d.type_ = Type::kUnion;
  d.long_ = branch;
  d.items_.push_back(std::move(value));
  return d;
}

bool Datum::bool_value() const {
  assert(type_ == Type::kBoolean);
  return type_ == Type::kBoolean && long_ != 0;
}

int32_t Datum::int_value() const {
  assert(type_ == Type::kInt);
  return type_ == Type::kInt ? static_cast<int32_t>(long_) : 0;
}

int64_t Datum::long_value() const {
  assert(type_ == Type::kInt || type_ == Type::kLong);
  return type_ == Type::kInt || type_ == Type::kLong ? long_ : 0;
}

float Datum::float_value() const {
  assert(type_ == Type::kFloat);
  return type_ == Type::kFloat ? static_cast<float>(double_) : 0.0f;
}

double Datum::double_value() const {
  assert(type_ == Type::kFloat || type_ == Type::kDouble);
  return type_ == Type::kFloat || type_ == Type::kDouble ? double_ : 0.0;
}

const std::string& Datum::bytes_value() const {
  assert(type_ == Type::kBytes);
  return type_ == Type::kBytes ? bytes_ : EmptyString();
}

const std::string& Datum::string_value() const {
  assert(type_ == Type::kString);
  return type_ == Type::kString ? bytes_ : EmptyString();
}

const std::string& Datum::fixed_value() const {
  assert(type_ == Type::kFixed);
  return type_ == Type::kFixed ? bytes_ : EmptyString();
}

const std::string& Datum::enum_symbol() const {
  assert(type_ == Type::kEnum);
  return type_ == Type::kEnum ? bytes_ : EmptyString();
}

int32_t Datum::enum_index() const {
  assert(type_ == Type::kEnum);
  return type_ == Type::kEnum ? static_cast<int32_t>(long_) : -1;
}

const std::vector<Datum::Entry>& Datum::fields() const {
  assert(type_ == Type::kRecord);
  return type_ == Type::kRecord ? entries_ : EmptyVector<Entry>();
}

const Datum* Datum::FindField(std::string_view name) const {
  if (type_ != Type::kRecord) return nullptr;
  for (const Entry& e : entries_) {
    if (e.first == name) return &e.second;
  }
  return nullptr;
}

const std::vector<Datum>& Datum::items() const {
  assert(type_ == Type::kArray);
  return type_ == Type::kArray ? items_ : EmptyVector<Datum>();
}

const std::vector<Datum::Entry>& Datum::map_entries() const {
  assert(type_ == Type::kMap);
  return type_ == Type::kMap ? entries_ : EmptyVector<Entry>();
}

int32_t Datum::union_branch() const {
  assert(type_ == Type::kUnion);
  return type_ == Type::kUnion ? static_cast<int32_t>(long_) : -1;
}

const Datum& Datum::union_value() const {
  assert(type_ == Type::kUnion);
  return type_ == Type::kUnion && !items_.empty() ? items_[0] : NullDatum();
}

const Datum& Datum::Unwrapped() const {
  return type_ == Type::kUnion && !items_.empty() ? items_[0] : *this;
}

std::vector<Datum::Entry>* Datum::mutable_fields() {
  assert(type_ == Type::kRecord);
  return &entries_;
}

std::vector<Datum>* Datum::mutable_items() {
  assert(type_ == Type::kArray);
  return &items_;
}

std::vector<Datum::Entry>* Datum::mutable_map_entries() {
  assert(type_ == Type::kMap);
  return &entries_;
}

bool Datum::operator==(const Datum& other) const {
  if (type_ != other.type_) return false;
  switch (type_) {
    case Type::kNull:
      return true;
    case Type::kFloat:
      return std::bit_cast<uint32_t>(static_cast<float>(double_)) ==
             std::bit_cast<uint32_t>(static_cast<float>(other.double_));
    case Type::kDouble:
      return std::bit_cast<uint64_t>(double_) == std::bit_cast<uint64_t>(other.double_);
    case Type::kEnum:
      // An enum built by symbol equals the decoded one with its index.
      return bytes_ == other.bytes_ && (long_ == other.long_ || long_ < 0 || other.long_ < 0);
    default:
      return long_ == other.long_ && bytes_ == other.bytes_ && items_ == other.items_ &&
             entries_ == other.entries_;
  }
}

std::string Datum::DebugString() const {
  std::string out;
  AppendDebug(*this, &out);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Datum& datum) {
  return os << datum.DebugString();
}

Result<Datum> DatumFromJson(const Schema& schema, const nlohmann::json& json) {
  if (internal::JsonNestsDeeperThan(json, kMaxJsonDepth)) {
    return InvalidArgument("JSON value nests deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
  }
  try {
    return FromJson(schema, json, 0);
  } catch (const nlohmann::json::exception& e) {
    return Internal(std::string("Avro default value: unexpected JSON error: ") + e.what());
  }
}

Result<Datum> Resolve(const Schema& reader_schema, const Datum& value) {
  return ResolveImpl(reader_schema, value, 0);
}

}  // namespace pg2iceberg::avro

#include "avro/encoding.h"

#include <bit>
#include <cstring>
#include <limits>
#include <vector>

namespace pg2iceberg::avro {

namespace {

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

void AppendVarint(uint64_t v, std::string* out) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

template <typename T>
void AppendLittleEndian(T bits, std::string* out) {
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) buf[i] = static_cast<char>((bits >> (8 * i)) & 0xFF);
  out->append(buf, sizeof(T));
}

std::string TypeOf(const Datum& d) { return std::string(TypeName(d.type())); }

// Encodes a Datum while keeping the path to the current value, so an error can say where.
class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}

  Status Write(const Schema& schema, const Datum& value) {
    if (path_.size() > static_cast<size_t>(kMaxSchemaDepth) * 2) {
      return Error("value nests deeper than the schema limit");
    }
    switch (schema.type()) {
      case Type::kNull:
        if (!value.is_null()) return Mismatch(schema, value);
        return Status::Ok();
      case Type::kBoolean:
        if (value.type() != Type::kBoolean) return Mismatch(schema, value);
        out_->push_back(value.bool_value() ? '\1' : '\0');
        return Status::Ok();
      case Type::kInt:
        if (value.type() != Type::kInt) return Mismatch(schema, value);
        AppendInt(value.int_value(), out_);
        return Status::Ok();
      case Type::kLong:
        if (value.type() != Type::kLong && value.type() != Type::kInt) {
          return Mismatch(schema, value);
        }
        AppendLong(value.long_value(), out_);
        return Status::Ok();
      case Type::kFloat:
        if (value.type() != Type::kFloat) return Mismatch(schema, value);
        AppendFloat(value.float_value(), out_);
        return Status::Ok();
      case Type::kDouble:
        if (value.type() != Type::kDouble && value.type() != Type::kFloat) {
          return Mismatch(schema, value);
        }
        AppendDouble(value.double_value(), out_);
        return Status::Ok();
      case Type::kBytes:
        if (value.type() != Type::kBytes) return Mismatch(schema, value);
        AppendBytes(value.bytes_value(), out_);
        return Status::Ok();
      case Type::kString:
        if (value.type() != Type::kString) return Mismatch(schema, value);
        if (!IsValidUtf8(value.string_value())) return Error("string is not valid UTF-8");
        AppendBytes(value.string_value(), out_);
        return Status::Ok();
      case Type::kFixed:
        if (value.type() != Type::kFixed) return Mismatch(schema, value);
        if (static_cast<int64_t>(value.fixed_value().size()) != schema.fixed_size()) {
          return Error("fixed " + schema.full_name() + " takes " +
                       std::to_string(schema.fixed_size()) + " bytes, got " +
                       std::to_string(value.fixed_value().size()));
        }
        out_->append(value.fixed_value());
        return Status::Ok();
      case Type::kEnum: {
        if (value.type() != Type::kEnum) return Mismatch(schema, value);
        const auto& symbols = schema.symbols();
        for (size_t i = 0; i < symbols.size(); ++i) {
          if (symbols[i] == value.enum_symbol()) {
            AppendInt(static_cast<int32_t>(i), out_);
            return Status::Ok();
          }
        }
        return Error("\"" + value.enum_symbol() + "\" is not a symbol of enum " +
                     schema.full_name());
      }
      case Type::kUnion:
        return WriteUnion(schema, value);
      case Type::kRecord:
        return WriteRecord(schema, value);
      case Type::kArray: {
        if (value.type() != Type::kArray) return Mismatch(schema, value);
        const auto& items = value.items();
        if (!items.empty()) {
          AppendLong(static_cast<int64_t>(items.size()), out_);
          for (size_t i = 0; i < items.size(); ++i) {
            path_.push_back({nullptr, static_cast<int64_t>(i)});
            Status st = Write(schema.items(), items[i]);
            if (!st.ok()) return st;
            path_.pop_back();
          }
        }
        AppendLong(0, out_);
        return Status::Ok();
      }
      case Type::kMap: {
        if (value.type() != Type::kMap) return Mismatch(schema, value);
        const auto& entries = value.map_entries();
        if (!entries.empty()) {
          AppendLong(static_cast<int64_t>(entries.size()), out_);
          for (const auto& [key, v] : entries) {
            path_.push_back({&key, -1});
            if (!IsValidUtf8(key)) return Error("map key is not valid UTF-8");
            AppendBytes(key, out_);
            Status st = Write(schema.values(), v);
            if (!st.ok()) return st;
            path_.pop_back();
          }
        }
        AppendLong(0, out_);
        return Status::Ok();
      }
    }
    return Error("unknown schema type");
  }

 private:
  struct Step {
    const std::string* name;  // field name or map key; nullptr for an array index
    int64_t index;
  };

  Status WriteUnion(const Schema& schema, const Datum& value) {
    const auto& branches = schema.branches();
    if (value.type() == Type::kUnion) {
      int32_t b = value.union_branch();
      if (b < 0 || static_cast<size_t>(b) >= branches.size()) {
        return Error("union branch " + std::to_string(b) + " is out of range (the union has " +
                     std::to_string(branches.size()) + ")");
      }
      AppendLong(b, out_);
      return Write(branches[static_cast<size_t>(b)], value.union_value());
    }
    // Exact type first; then a branch that widens the value (int into long, float into double).
    const size_t start = out_->size();
    Status first_error;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < branches.size(); ++i) {
        const Type bt = branches[i].type();
        const bool candidate =
            pass == 0 ? bt == value.type()
                      : (bt == Type::kLong && value.type() == Type::kInt) ||
                            (bt == Type::kDouble && value.type() == Type::kFloat);
        if (!candidate) continue;
        AppendLong(static_cast<int64_t>(i), out_);
        Status st = Write(branches[i], value);
        if (st.ok()) return st;
        out_->resize(start);
        if (first_error.ok()) first_error = st;
      }
    }
    if (!first_error.ok()) return first_error;
    std::string names;
    for (const Schema& b : branches) {
      if (!names.empty()) names += ", ";
      names += b.is_named() ? b.full_name() : std::string(TypeName(b.type()));
    }
    return Error("no branch of union [" + names + "] takes a " + TypeOf(value));
  }

  Status WriteRecord(const Schema& schema, const Datum& value) {
    if (value.type() != Type::kRecord) return Mismatch(schema, value);
    const auto& entries = value.fields();
    const auto& fields = schema.fields();
    size_t matched = 0;
    for (size_t i = 0; i < fields.size(); ++i) {
      const Field& f = fields[i];
      const Datum* v = nullptr;
      if (i < entries.size() && entries[i].first == f.name) {
        v = &entries[i].second;
      } else {
        v = value.FindField(f.name);
      }
      path_.push_back({&f.name, -1});
      if (v != nullptr) {
        ++matched;
        Status st = Write(f.type, *v);
        if (!st.ok()) return st;
      } else if (f.default_value) {
        auto d = DatumFromJson(f.type, *f.default_value);
        if (!d.ok()) {
          return Error("missing, and its default is invalid: " + d.status().message());
        }
        Status st = Write(f.type, *d);
        if (!st.ok()) return st;
      } else {
        return Error("missing from the record and has no default");
      }
      path_.pop_back();
    }
    if (matched != entries.size()) {
      for (const auto& [name, v] : entries) {
        if (schema.FindField(name) == nullptr) {
          return Error("field \"" + name + "\" is not in record " + schema.full_name());
        }
      }
      return Error("record value repeats a field");
    }
    return Status::Ok();
  }

  Status Mismatch(const Schema& schema, const Datum& value) {
    std::string want = schema.is_named() ? std::string(TypeName(schema.type())) + " " +
                                               schema.full_name()
                                         : std::string(TypeName(schema.type()));
    return Error("expected " + want + ", got " + TypeOf(value));
  }

  Status Error(std::string message) {
    std::string path;
    for (const Step& s : path_) {
      if (s.name == nullptr) {
        path += "[" + std::to_string(s.index) + "]";
      } else {
        if (!path.empty()) path += ".";
        path += *s.name;
      }
    }
    return InvalidArgument(path.empty() ? std::move(message) : path + ": " + message);
  }

  std::string* out_;
  std::vector<Step> path_;
};

// Decodes Datums from a BinaryReader.
class Decoder {
 public:
  explicit Decoder(BinaryReader* in) : in_(in) {}

  Result<Datum> Read(const Schema& schema, int depth) {
    if (depth > kMaxSchemaDepth) {
      return DataLoss("value nests deeper than " + std::to_string(kMaxSchemaDepth) + " levels");
    }
    switch (schema.type()) {
      case Type::kNull:
        return Datum::Null();
      case Type::kBoolean: {
        PG2I_ASSIGN_OR_RETURN(bool b, in_->ReadBoolean());
        return Datum::Boolean(b);
      }
      case Type::kInt: {
        PG2I_ASSIGN_OR_RETURN(int32_t v, in_->ReadInt());
        return Datum::Int(v);
      }
      case Type::kLong: {
        PG2I_ASSIGN_OR_RETURN(int64_t v, in_->ReadLong());
        return Datum::Long(v);
      }
      case Type::kFloat: {
        PG2I_ASSIGN_OR_RETURN(float v, in_->ReadFloat());
        return Datum::Float(v);
      }
      case Type::kDouble: {
        PG2I_ASSIGN_OR_RETURN(double v, in_->ReadDouble());
        return Datum::Double(v);
      }
      case Type::kBytes: {
        PG2I_ASSIGN_OR_RETURN(std::string_view v, in_->ReadBytes());
        return Datum::Bytes(std::string(v));
      }
      case Type::kString: {
        PG2I_ASSIGN_OR_RETURN(std::string_view v, in_->ReadBytes());
        return Datum::String(std::string(v));
      }
      case Type::kFixed: {
        PG2I_ASSIGN_OR_RETURN(std::string_view v, in_->ReadFixed(schema.fixed_size()));
        return Datum::Fixed(std::string(v));
      }
      case Type::kEnum: {
        const size_t at = in_->position();
        PG2I_ASSIGN_OR_RETURN(int32_t i, in_->ReadInt());
        if (i < 0 || static_cast<size_t>(i) >= schema.symbols().size()) {
          return DataLoss("enum index " + std::to_string(i) + " at offset " +
                          std::to_string(at) + " is out of range for " + schema.full_name());
        }
        return Datum::Enum(schema.symbols()[static_cast<size_t>(i)], i);
      }
      case Type::kUnion: {
        const size_t at = in_->position();
        PG2I_ASSIGN_OR_RETURN(int64_t i, in_->ReadLong());
        if (i < 0 || static_cast<uint64_t>(i) >= schema.branches().size()) {
          return DataLoss("union branch " + std::to_string(i) + " at offset " +
                          std::to_string(at) + " is out of range (the union has " +
                          std::to_string(schema.branches().size()) + ")");
        }
        const Schema& branch = schema.branches()[static_cast<size_t>(i)];
        PG2I_ASSIGN_OR_RETURN(Datum v, Read(branch, depth + 1));
        return Datum::Union(static_cast<int32_t>(i), std::move(v));
      }
      case Type::kRecord: {
        std::vector<Datum::Entry> fields;
        fields.reserve(schema.fields().size());
        for (const Field& f : schema.fields()) {
          PG2I_ASSIGN_OR_RETURN(Datum v, Read(f.type, depth + 1));
          fields.emplace_back(f.name, std::move(v));
        }
        return Datum::Record(std::move(fields));
      }
      case Type::kArray: {
        std::vector<Datum> items;
        PG2I_RETURN_IF_ERROR(ReadBlocks(schema.items().min_encoded_size(), [&]() -> Status {
          PG2I_ASSIGN_OR_RETURN(Datum v, Read(schema.items(), depth + 1));
          items.push_back(std::move(v));
          return Status::Ok();
        }, [&](size_t n) { Reserve(&items, n); }));
        return Datum::Array(std::move(items));
      }
      case Type::kMap: {
        std::vector<Datum::Entry> entries;
        // A key is at least its one-byte length.
        const int64_t min_size = 1 + schema.values().min_encoded_size();
        PG2I_RETURN_IF_ERROR(ReadBlocks(min_size, [&]() -> Status {
          PG2I_ASSIGN_OR_RETURN(std::string_view key, in_->ReadBytes());
          PG2I_ASSIGN_OR_RETURN(Datum v, Read(schema.values(), depth + 1));
          entries.emplace_back(std::string(key), std::move(v));
          return Status::Ok();
        }, [&](size_t n) { Reserve(&entries, n); }));
        return Datum::Map(std::move(entries));
      }
    }
    return DataLoss("unknown schema type");
  }

 private:
  template <typename T>
  static void Reserve(std::vector<T>* v, size_t more) {
    size_t want = v->size() + more;
    if (want > v->capacity()) v->reserve(std::max(want, v->capacity() * 2));
  }

  // Reads array/map blocks until the terminating zero count. `min_size` is the fewest bytes
  // one item takes; counts are checked against the bytes left (or the zero-size budget)
  // before `reserve` is asked for room.
  template <typename ReadItem, typename ReserveFn>
  Status ReadBlocks(int64_t min_size, ReadItem read_item, ReserveFn reserve) {
    while (true) {
      const size_t at = in_->position();
      PG2I_ASSIGN_OR_RETURN(int64_t count, in_->ReadLong());
      if (count == 0) return Status::Ok();
      int64_t byte_size = -1;
      if (count < 0) {
        if (count == std::numeric_limits<int64_t>::min()) {
          return DataLoss("block count at offset " + std::to_string(at) + " is out of range");
        }
        count = -count;
        PG2I_ASSIGN_OR_RETURN(byte_size, in_->ReadLong());
        if (byte_size < 0 || static_cast<uint64_t>(byte_size) > in_->remaining()) {
          return DataLoss("block at offset " + std::to_string(at) + " declares " +
                          std::to_string(byte_size) + " bytes, " +
                          std::to_string(in_->remaining()) + " remain");
        }
      }
      if (min_size > 0) {
        if (static_cast<uint64_t>(count) > in_->remaining() / static_cast<uint64_t>(min_size)) {
          return DataLoss("block at offset " + std::to_string(at) + " declares " +
                          std::to_string(count) + " items, more than the " +
                          std::to_string(in_->remaining()) + " bytes left can hold");
        }
      } else {
        PG2I_RETURN_IF_ERROR(in_->ChargeZeroSize(count));
      }
      reserve(static_cast<size_t>(count));
      const size_t start = in_->position();
      for (int64_t i = 0; i < count; ++i) PG2I_RETURN_IF_ERROR(read_item());
      if (byte_size >= 0 && in_->position() - start != static_cast<uint64_t>(byte_size)) {
        return DataLoss("block at offset " + std::to_string(at) + " declares " +
                        std::to_string(byte_size) + " bytes but its items take " +
                        std::to_string(in_->position() - start));
      }
    }
  }

  BinaryReader* in_;
};

}  // namespace

void AppendInt(int32_t value, std::string* out) { AppendVarint(ZigZag(value), out); }
void AppendLong(int64_t value, std::string* out) { AppendVarint(ZigZag(value), out); }

void AppendFloat(float value, std::string* out) {
  AppendLittleEndian(std::bit_cast<uint32_t>(value), out);
}

void AppendDouble(double value, std::string* out) {
  AppendLittleEndian(std::bit_cast<uint64_t>(value), out);
}

void AppendBytes(std::string_view value, std::string* out) {
  AppendLong(static_cast<int64_t>(value.size()), out);
  out->append(value);
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07u, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

Status BinaryReader::Truncated(std::string_view what, size_t need) const {
  return DataLoss("truncated input: " + std::string(what) + " at offset " +
                  std::to_string(pos_) + " needs " + std::to_string(need) + " bytes, " +
                  std::to_string(remaining()) + " remain");
}

Result<bool> BinaryReader::ReadBoolean() {
  if (remaining() < 1) return Truncated("boolean", 1);
  auto b = static_cast<unsigned char>(data_[pos_]);
  if (b > 1) {
    return DataLoss("boolean at offset " + std::to_string(pos_) + " is " + std::to_string(b) +
                    ", not 0 or 1");
  }
  ++pos_;
  return b == 1;
}

Result<int64_t> BinaryReader::ReadLong() {
  const size_t start = pos_;
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) return Truncated("varint", pos_ - start + 1);
    auto b = static_cast<unsigned char>(data_[pos_++]);
    // The tenth byte may only carry the 64th bit.
    if (shift == 63 && b > 1) break;
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return UnZigZag(v);
  }
  return DataLoss("varint at offset " + std::to_string(start) + " overflows 64 bits");
}

Result<int32_t> BinaryReader::ReadInt() {
  const size_t start = pos_;
  PG2I_ASSIGN_OR_RETURN(int64_t v, ReadLong());
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return DataLoss("int at offset " + std::to_string(start) + " is out of range: " +
                    std::to_string(v));
  }
  return static_cast<int32_t>(v);
}

Result<float> BinaryReader::ReadFloat() {
  if (remaining() < 4) return Truncated("float", 4);
  uint32_t bits = 0;
  for (size_t i = 0; i < 4; ++i) {
    bits |= static_cast<uint32_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
  }
  pos_ += 4;
  return std::bit_cast<float>(bits);
}

Result<double> BinaryReader::ReadDouble() {
  if (remaining() < 8) return Truncated("double", 8);
  uint64_t bits = 0;
  for (size_t i = 0; i < 8; ++i) {
    bits |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
  }
  pos_ += 8;
  return std::bit_cast<double>(bits);
}

Result<std::string_view> BinaryReader::ReadBytes() {
  const size_t start = pos_;
  PG2I_ASSIGN_OR_RETURN(int64_t len, ReadLong());
  if (len < 0) {
    return DataLoss("negative length " + std::to_string(len) + " at offset " +
                    std::to_string(start));
  }
  if (static_cast<uint64_t>(len) > remaining()) {
    return Truncated("bytes", static_cast<size_t>(len));
  }
  std::string_view v = data_.substr(pos_, static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return v;
}

Result<std::string_view> BinaryReader::ReadFixed(int64_t size) {
  if (size < 0) return DataLoss("negative fixed size");
  if (static_cast<uint64_t>(size) > remaining()) {
    return Truncated("fixed", static_cast<size_t>(size));
  }
  std::string_view v = data_.substr(pos_, static_cast<size_t>(size));
  pos_ += static_cast<size_t>(size);
  return v;
}

Status BinaryReader::ChargeZeroSize(int64_t n) {
  if (n < 0 || n > zero_size_budget_) {
    return DataLoss("input at offset " + std::to_string(pos_) + " declares " +
                    std::to_string(n) + " values that take no bytes; the limit is " +
                    std::to_string(zero_size_budget_) + " more");
  }
  zero_size_budget_ -= n;
  return Status::Ok();
}

Status Encode(const Schema& schema, const Datum& value, std::string* out) {
  const size_t start = out->size();
  Encoder encoder(out);
  Status st = encoder.Write(schema, value);
  if (!st.ok()) out->resize(start);
  return st;
}

Result<Datum> Decode(const Schema& schema, BinaryReader* in) {
  Decoder decoder(in);
  return decoder.Read(schema, 0);
}

Result<Datum> DecodeExactly(const Schema& schema, std::string_view bytes) {
  BinaryReader in(bytes);
  PG2I_ASSIGN_OR_RETURN(Datum v, Decode(schema, &in));
  if (!in.at_end()) {
    return DataLoss(std::to_string(in.remaining()) + " trailing bytes after the value");
  }
  return v;
}

}  // namespace pg2iceberg::avro

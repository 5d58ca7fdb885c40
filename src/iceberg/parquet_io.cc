#include "iceberg/parquet_io.h"

#include <arrow/api.h>
#include <arrow/util/decimal.h>
#include <arrow/util/io_util.h>
#include <parquet/arrow/reader.h>
#include <parquet/column_writer.h>
#include <parquet/exception.h>
#include <parquet/file_writer.h>
#include <parquet/metadata.h>
#include <parquet/properties.h>
#include <parquet/schema.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include "iceberg/single_value.h"
#include "io/arrow_util.h"

namespace pg2iceberg::iceberg {
namespace {

using parquet::Repetition;
using parquet::schema::GroupNode;
using parquet::schema::PrimitiveNode;

std::string Describe(const Field& field) {
  return "column " + field.name + " (id " + std::to_string(field.id) + ", " +
         field.type.primitive.ToString() + ")";
}

// 10^p for p in [0, 38].
__int128 Pow10(int32_t p) {
  __int128 v = 1;
  for (int32_t i = 0; i < p; ++i) v *= 10;
  return v;
}

Status CheckWritable(const Field& field) {
  if (field.id <= 0) {
    return InvalidArgument(field.name + " (id " + std::to_string(field.id) +
                           "): field ids must be positive");
  }
  if (field.type.kind == DataType::Kind::kStruct) {
    if (field.type.fields.empty()) {
      return InvalidArgument(field.name + " (id " + std::to_string(field.id) +
                             "): a struct needs at least one field");
    }
    for (const Field& child : field.type.fields) {
      if (!child.type.is_primitive()) {
        return InvalidArgument(field.name + "." + child.name + " (id " +
                               std::to_string(child.id) +
                               "): only primitive columns and structs of them can be written");
      }
      PG2I_RETURN_IF_ERROR(CheckWritable(child));
    }
    return Status::Ok();
  }
  if (!field.type.is_primitive()) {
    return InvalidArgument(field.name + " (id " + std::to_string(field.id) +
                           "): only primitive columns and structs of them can be written");
  }
  const Type& t = field.type.primitive;
  if (t.id == TypeId::kDecimal &&
      (t.precision < 1 || t.precision > 38 || t.scale < 0 || t.scale > t.precision)) {
    return InvalidArgument(Describe(field) + ": decimal precision must be 1..38 and scale "
                                             "0..precision");
  }
  return Status::Ok();
}

// Iceberg spec Appendix A, as Iceberg Java's TypeToMessageType writes it.
parquet::schema::NodePtr ParquetNodeFor(const Field& field) {
  using parquet::LogicalType;
  namespace pt = parquet;
  const Repetition::type rep = field.required ? Repetition::REQUIRED : Repetition::OPTIONAL;
  if (field.type.kind == DataType::Kind::kStruct) {
    parquet::schema::NodeVector children;
    for (const Field& child : field.type.fields) children.push_back(ParquetNodeFor(child));
    return GroupNode::Make(field.name, rep, children, parquet::ConvertedType::NONE, field.id);
  }
  const Type& t = field.type.primitive;
  auto make = [&](std::shared_ptr<const LogicalType> logical, pt::Type::type physical,
                  int length = -1) {
    return PrimitiveNode::Make(field.name, rep, std::move(logical), physical, length, field.id);
  };
  switch (t.id) {
    case TypeId::kBoolean: return make(LogicalType::None(), pt::Type::BOOLEAN);
    case TypeId::kInt: return make(LogicalType::None(), pt::Type::INT32);
    case TypeId::kLong: return make(LogicalType::None(), pt::Type::INT64);
    case TypeId::kFloat: return make(LogicalType::None(), pt::Type::FLOAT);
    case TypeId::kDouble: return make(LogicalType::None(), pt::Type::DOUBLE);
    case TypeId::kDecimal: {
      auto logical = LogicalType::Decimal(t.precision, t.scale);
      if (t.precision <= 9) return make(logical, pt::Type::INT32);
      if (t.precision <= 18) return make(logical, pt::Type::INT64);
      return make(logical, pt::Type::FIXED_LEN_BYTE_ARRAY,
                  arrow::DecimalType::DecimalSize(t.precision));
    }
    case TypeId::kDate: return make(LogicalType::Date(), pt::Type::INT32);
    case TypeId::kTime:
      return make(LogicalType::Time(false, LogicalType::TimeUnit::MICROS), pt::Type::INT64);
    case TypeId::kTimestamp:
      return make(LogicalType::Timestamp(false, LogicalType::TimeUnit::MICROS),
                  pt::Type::INT64);
    case TypeId::kTimestampTz:
      return make(LogicalType::Timestamp(true, LogicalType::TimeUnit::MICROS),
                  pt::Type::INT64);
    case TypeId::kString: return make(LogicalType::String(), pt::Type::BYTE_ARRAY);
    case TypeId::kUuid:
      return make(LogicalType::UUID(), pt::Type::FIXED_LEN_BYTE_ARRAY, 16);
    case TypeId::kBinary: return make(LogicalType::None(), pt::Type::BYTE_ARRAY);
  }
  return nullptr;
}

// Runs Parquet's throwing API and converts what it throws. Errors of our own FileIO stream
// come back with their code (the stream's Status rides in the exception's arrow::Status).
template <typename F>
Status Guard(std::string_view context, F&& f) {
  try {
    f();
    return Status::Ok();
  } catch (const parquet::ParquetStatusException& e) {
    return io::FromArrow(e.status(), context);
  } catch (const std::exception& e) {
    return Internal(std::string(context) + ": " + e.what());
  }
}

}  // namespace

Status ParquetReadError(const arrow::Status& status, const std::string& uri) {
  if (status.detail() != nullptr || arrow::internal::ErrnoFromStatus(status) != 0 ||
      status.message().find("AWS Error") != std::string::npos ||
      status.message().find("curlCode") != std::string::npos) {
    return io::FromArrow(status, "read " + uri);
  }
  return DataLoss("read " + uri + ": not a readable Parquet file: " + status.ToString());
}

namespace {

bool IsFloating(TypeId id) { return id == TypeId::kFloat || id == TypeId::kDouble; }

}  // namespace

// ---------------------------------------------------------------------------------------
// Types

std::shared_ptr<arrow::DataType> ArrowTypeFor(const Type& type) {
  switch (type.id) {
    case TypeId::kBoolean: return arrow::boolean();
    case TypeId::kInt: return arrow::int32();
    case TypeId::kLong: return arrow::int64();
    case TypeId::kFloat: return arrow::float32();
    case TypeId::kDouble: return arrow::float64();
    case TypeId::kDecimal:
      return arrow::decimal128(std::clamp(type.precision, 1, 38), type.scale);
    case TypeId::kDate: return arrow::date32();
    case TypeId::kTime: return arrow::time64(arrow::TimeUnit::MICRO);
    case TypeId::kTimestamp: return arrow::timestamp(arrow::TimeUnit::MICRO);
    case TypeId::kTimestampTz: return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
    case TypeId::kString: return arrow::utf8();
    case TypeId::kUuid: return arrow::fixed_size_binary(16);
    case TypeId::kBinary: return arrow::binary();
  }
  return arrow::null();
}

namespace {

// The Arrow field of a primitive column or a struct of them (CheckWritable), with field ids.
std::shared_ptr<arrow::Field> ArrowFieldFor(const Field& field) {
  std::shared_ptr<arrow::DataType> type;
  if (field.type.kind == DataType::Kind::kStruct) {
    arrow::FieldVector children;
    for (const Field& child : field.type.fields) children.push_back(ArrowFieldFor(child));
    type = arrow::struct_(std::move(children));
  } else {
    type = ArrowTypeFor(field.type.primitive);
  }
  return arrow::field(field.name, std::move(type), !field.required,
                      arrow::key_value_metadata({kParquetFieldIdKey}, {std::to_string(field.id)}));
}

}  // namespace

Result<std::shared_ptr<arrow::Schema>> ArrowSchemaFor(const std::vector<Field>& fields) {
  arrow::FieldVector out;
  out.reserve(fields.size());
  for (const Field& field : fields) {
    PG2I_RETURN_IF_ERROR(CheckWritable(field));
    out.push_back(ArrowFieldFor(field));
  }
  return arrow::schema(std::move(out));
}

const std::vector<Field>& PositionDeleteFields() {
  static const std::vector<Field> kFields = {
      Field{kPositionDeleteFilePathId, "file_path", true,
            DataType::Primitive(Type{TypeId::kString})},
      Field{kPositionDeletePosId, "pos", true, DataType::Primitive(Type{TypeId::kLong})},
  };
  return kFields;
}

Result<Value> ValueAt(const arrow::Array& array, int64_t row, const Type& type) {
  if (row < 0 || row >= array.length()) return InvalidArgument("row out of range");
  if (array.IsNull(row)) return Value{};
  auto mismatch = [&]() {
    return InvalidArgument("array of " + array.type()->ToString() + " does not hold " +
                           type.ToString());
  };
  switch (type.id) {
    case TypeId::kBoolean:
      if (array.type_id() != arrow::Type::BOOL) return mismatch();
      return Value{static_cast<const arrow::BooleanArray&>(array).Value(row)};
    case TypeId::kInt:
      if (array.type_id() != arrow::Type::INT32) return mismatch();
      return Value{static_cast<const arrow::Int32Array&>(array).Value(row)};
    case TypeId::kLong:
      if (array.type_id() != arrow::Type::INT64) return mismatch();
      return Value{static_cast<const arrow::Int64Array&>(array).Value(row)};
    case TypeId::kFloat:
      if (array.type_id() != arrow::Type::FLOAT) return mismatch();
      return Value{static_cast<const arrow::FloatArray&>(array).Value(row)};
    case TypeId::kDouble:
      if (array.type_id() != arrow::Type::DOUBLE) return mismatch();
      return Value{static_cast<const arrow::DoubleArray&>(array).Value(row)};
    case TypeId::kDecimal: {
      if (array.type_id() != arrow::Type::DECIMAL128) return mismatch();
      __int128 unscaled;
      std::memcpy(&unscaled, static_cast<const arrow::Decimal128Array&>(array).GetValue(row),
                  sizeof(unscaled));
      return Value{Decimal128{unscaled, type.scale}};
    }
    case TypeId::kDate:
      if (array.type_id() != arrow::Type::DATE32) return mismatch();
      return Value{Date{static_cast<const arrow::Date32Array&>(array).Value(row)}};
    case TypeId::kTime:
      if (array.type_id() != arrow::Type::TIME64) return mismatch();
      return Value{Time{static_cast<const arrow::Time64Array&>(array).Value(row)}};
    case TypeId::kTimestamp:
      if (array.type_id() != arrow::Type::TIMESTAMP) return mismatch();
      return Value{Timestamp{static_cast<const arrow::TimestampArray&>(array).Value(row)}};
    case TypeId::kTimestampTz:
      if (array.type_id() != arrow::Type::TIMESTAMP) return mismatch();
      return Value{TimestampTz{static_cast<const arrow::TimestampArray&>(array).Value(row)}};
    case TypeId::kString:
      if (array.type_id() != arrow::Type::STRING) return mismatch();
      return Value{static_cast<const arrow::StringArray&>(array).GetString(row)};
    case TypeId::kUuid: {
      if (array.type_id() != arrow::Type::FIXED_SIZE_BINARY ||
          static_cast<const arrow::FixedSizeBinaryArray&>(array).byte_width() != 16) {
        return mismatch();
      }
      Uuid uuid;
      std::memcpy(uuid.bytes.data(),
                  static_cast<const arrow::FixedSizeBinaryArray&>(array).GetValue(row), 16);
      return Value{uuid};
    }
    case TypeId::kBinary:
      if (array.type_id() != arrow::Type::BINARY) return mismatch();
      return Value{Binary{static_cast<const arrow::BinaryArray&>(array).GetString(row)}};
  }
  return mismatch();
}

Result<std::vector<std::vector<Value>>> RowsOf(const arrow::RecordBatch& batch,
                                               const std::vector<Field>& fields) {
  if (batch.num_columns() != static_cast<int>(fields.size())) {
    return InvalidArgument("batch has " + std::to_string(batch.num_columns()) +
                           " columns, expected " + std::to_string(fields.size()));
  }
  std::vector<std::vector<Value>> rows(static_cast<size_t>(batch.num_rows()));
  for (auto& row : rows) row.resize(fields.size());
  for (size_t c = 0; c < fields.size(); ++c) {
    const arrow::Array& array = *batch.column(static_cast<int>(c));
    for (int64_t r = 0; r < batch.num_rows(); ++r) {
      PG2I_ASSIGN_OR_RETURN(rows[static_cast<size_t>(r)][c],
                            ValueAt(array, r, fields[c].type.primitive));
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------
// Metrics

namespace {

class ColumnMetrics {
 public:
  virtual ~ColumnMetrics() = default;
  // `array` is a slice of the column, of ArrowTypeFor(type).
  virtual void Update(const arrow::Array& array) = 0;
  // The smallest and largest non-null, non-NaN value; nullopt when there is none.
  virtual std::optional<Value> Min() const = 0;
  virtual std::optional<Value> Max() const = 0;

  int64_t nulls = 0;
  int64_t nans = 0;
};

template <typename ArrowType>
class IntegralMetrics final : public ColumnMetrics {
 public:
  using C = typename ArrowType::c_type;
  explicit IntegralMetrics(TypeId id) : id_(id) {}

  void Update(const arrow::Array& array) override {
    const auto& a = static_cast<const arrow::NumericArray<ArrowType>&>(array);
    const C* v = a.raw_values();
    const int64_t n = a.length();
    nulls += a.null_count();
    if (a.null_count() == 0) {
      for (int64_t i = 0; i < n; ++i) Add(v[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        if (a.IsValid(i)) Add(v[i]);
      }
    }
  }
  std::optional<Value> Min() const override {
    return has_ ? std::optional<Value>(Wrap(min_)) : std::nullopt;
  }
  std::optional<Value> Max() const override {
    return has_ ? std::optional<Value>(Wrap(max_)) : std::nullopt;
  }

 private:
  void Add(C x) {
    if (!has_) {
      min_ = max_ = x;
      has_ = true;
    } else {
      min_ = std::min(min_, x);
      max_ = std::max(max_, x);
    }
  }
  Value Wrap(C x) const {
    switch (id_) {
      case TypeId::kDate: return Date{static_cast<int32_t>(x)};
      case TypeId::kTime: return Time{static_cast<int64_t>(x)};
      case TypeId::kTimestamp: return Timestamp{static_cast<int64_t>(x)};
      case TypeId::kTimestampTz: return TimestampTz{static_cast<int64_t>(x)};
      default: return Value{x};
    }
  }

  TypeId id_;
  bool has_ = false;
  C min_{};
  C max_{};
};

// NaN is counted, never a bound; -0.0 sorts before 0.0 (Java's Float.compare order).
template <typename ArrowType>
class FloatingMetrics final : public ColumnMetrics {
 public:
  using C = typename ArrowType::c_type;

  void Update(const arrow::Array& array) override {
    const auto& a = static_cast<const arrow::NumericArray<ArrowType>&>(array);
    const C* v = a.raw_values();
    nulls += a.null_count();
    for (int64_t i = 0; i < a.length(); ++i) {
      if (a.null_count() != 0 && a.IsNull(i)) continue;
      const C x = v[i];
      if (std::isnan(x)) {
        ++nans;
        continue;
      }
      if (!has_) {
        min_ = max_ = x;
        has_ = true;
        continue;
      }
      if (Less(x, min_)) min_ = x;
      if (Less(max_, x)) max_ = x;
    }
  }
  std::optional<Value> Min() const override {
    return has_ ? std::optional<Value>(min_) : std::nullopt;
  }
  std::optional<Value> Max() const override {
    return has_ ? std::optional<Value>(max_) : std::nullopt;
  }

 private:
  static bool Less(C a, C b) {
    if (a == b) return std::signbit(a) && !std::signbit(b);
    return a < b;
  }
  bool has_ = false;
  C min_{};
  C max_{};
};

class BooleanMetrics final : public ColumnMetrics {
 public:
  void Update(const arrow::Array& array) override {
    const auto& a = static_cast<const arrow::BooleanArray&>(array);
    nulls += a.null_count();
    const int64_t trues = a.true_count();
    const int64_t falses = a.length() - a.null_count() - trues;
    seen_true_ |= trues > 0;
    seen_false_ |= falses > 0;
  }
  std::optional<Value> Min() const override {
    if (seen_false_) return Value{false};
    if (seen_true_) return Value{true};
    return std::nullopt;
  }
  std::optional<Value> Max() const override {
    if (seen_true_) return Value{true};
    if (seen_false_) return Value{false};
    return std::nullopt;
  }

 private:
  bool seen_true_ = false;
  bool seen_false_ = false;
};

class DecimalMetrics final : public ColumnMetrics {
 public:
  explicit DecimalMetrics(int32_t scale) : scale_(scale) {}
  void Update(const arrow::Array& array) override {
    const auto& a = static_cast<const arrow::Decimal128Array&>(array);
    nulls += a.null_count();
    for (int64_t i = 0; i < a.length(); ++i) {
      if (a.null_count() != 0 && a.IsNull(i)) continue;
      __int128 x;
      std::memcpy(&x, a.GetValue(i), sizeof(x));
      if (!has_) {
        min_ = max_ = x;
        has_ = true;
      } else {
        min_ = std::min(min_, x);
        max_ = std::max(max_, x);
      }
    }
  }
  std::optional<Value> Min() const override {
    return has_ ? Value{Decimal128{min_, scale_}} : std::optional<Value>();
  }
  std::optional<Value> Max() const override {
    return has_ ? Value{Decimal128{max_, scale_}} : std::optional<Value>();
  }

 private:
  int32_t scale_;
  bool has_ = false;
  __int128 min_ = 0;
  __int128 max_ = 0;
};

// string, binary and uuid: unsigned byte order (= code point order for UTF-8).
class BytesMetrics final : public ColumnMetrics {
 public:
  explicit BytesMetrics(TypeId id) : id_(id) {}
  void Update(const arrow::Array& array) override {
    nulls += array.null_count();
    if (id_ == TypeId::kUuid) {
      const auto& a = static_cast<const arrow::FixedSizeBinaryArray&>(array);
      for (int64_t i = 0; i < a.length(); ++i) {
        if (array.null_count() == 0 || a.IsValid(i)) Add(a.GetView(i));
      }
    } else {
      const auto& a = static_cast<const arrow::BinaryArray&>(array);
      for (int64_t i = 0; i < a.length(); ++i) {
        if (array.null_count() == 0 || a.IsValid(i)) Add(a.GetView(i));
      }
    }
  }
  std::optional<Value> Min() const override {
    return has_ ? std::optional<Value>(Wrap(min_)) : std::nullopt;
  }
  std::optional<Value> Max() const override {
    return has_ ? std::optional<Value>(Wrap(max_)) : std::nullopt;
  }

 private:
  void Add(std::string_view v) {
    if (!has_) {
      min_.assign(v);
      max_.assign(v);
      has_ = true;
      return;
    }
    if (v < min_) min_.assign(v);
    if (v > max_) max_.assign(v);
  }
  Value Wrap(const std::string& s) const {
    switch (id_) {
      case TypeId::kString: return s;
      case TypeId::kBinary: return Binary{s};
      default: {
        Uuid u;
        std::memcpy(u.bytes.data(), s.data(), 16);
        return u;
      }
    }
  }

  TypeId id_;
  bool has_ = false;
  std::string min_;
  std::string max_;
};

std::unique_ptr<ColumnMetrics> MakeMetrics(const Type& type) {
  switch (type.id) {
    case TypeId::kBoolean: return std::make_unique<BooleanMetrics>();
    case TypeId::kInt: return std::make_unique<IntegralMetrics<arrow::Int32Type>>(type.id);
    case TypeId::kDate: return std::make_unique<IntegralMetrics<arrow::Date32Type>>(type.id);
    case TypeId::kLong: return std::make_unique<IntegralMetrics<arrow::Int64Type>>(type.id);
    case TypeId::kTime: return std::make_unique<IntegralMetrics<arrow::Time64Type>>(type.id);
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      return std::make_unique<IntegralMetrics<arrow::TimestampType>>(type.id);
    case TypeId::kFloat: return std::make_unique<FloatingMetrics<arrow::FloatType>>();
    case TypeId::kDouble: return std::make_unique<FloatingMetrics<arrow::DoubleType>>();
    case TypeId::kDecimal: return std::make_unique<DecimalMetrics>(type.scale);
    case TypeId::kString:
    case TypeId::kUuid:
    case TypeId::kBinary:
      return std::make_unique<BytesMetrics>(type.id);
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// Values → Arrow

Status WrongValue(const Field& field, size_t row, const Value& v) {
  return InvalidArgument(Describe(field) + ", row " + std::to_string(row) + ": " +
                         DebugString(v) + " is not a value of this type");
}

// An Arrow status, named by its field only when it failed (no string built per value).
Status Checked(const arrow::Status& st, const Field& field) {
  return st.ok() ? Status::Ok() : io::FromArrow(st, Describe(field));
}

Status NullInRequired(const Field& field, size_t row) {
  return InvalidArgument(Describe(field) + " is required, but row " + std::to_string(row) +
                         " is NULL");
}

// Appends column `col` of `rows` to `builder` (of ArrowTypeFor(field type)); `T` is the Value
// alternative the type uses and `append` adds one present value.
template <typename T, typename Builder, typename Append>
Status AppendColumn(std::span<const std::vector<Value>> rows, size_t col, const Field& field,
                    Builder* builder, Append&& append) {
  if (auto st = builder->Reserve(static_cast<int64_t>(rows.size())); !st.ok()) {
    return io::FromArrow(st, Describe(field));
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const Value& v = rows[r][col];
    if (const T* x = std::get_if<T>(&v)) {
      PG2I_RETURN_IF_ERROR(append(*x, r));
    } else if (IsNull(v)) {
      if (field.required) return NullInRequired(field, r);
      builder->UnsafeAppendNull();
    } else {
      return WrongValue(field, r, v);
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<arrow::Array>> BuildColumn(std::span<const std::vector<Value>> rows,
                                                  size_t col, const Field& field) {
  if (!field.type.is_primitive()) {
    return InvalidArgument(field.name + " (id " + std::to_string(field.id) +
                           "): a struct column is written from Arrow batches, not rows of Values");
  }
  const Type& type = field.type.primitive;
  std::unique_ptr<arrow::ArrayBuilder> any;
  if (auto st = arrow::MakeBuilder(arrow::default_memory_pool(), ArrowTypeFor(type), &any);
      !st.ok()) {
    return io::FromArrow(st, Describe(field));
  }
  Status status;
  auto unsafe = [](auto* b) {
    return [b](const auto& x, size_t) {
      b->UnsafeAppend(x);
      return Status::Ok();
    };
  };
  switch (type.id) {
    case TypeId::kBoolean: {
      auto* b = static_cast<arrow::BooleanBuilder*>(any.get());
      status = AppendColumn<bool>(rows, col, field, b, unsafe(b));
      break;
    }
    case TypeId::kInt: {
      auto* b = static_cast<arrow::Int32Builder*>(any.get());
      status = AppendColumn<int32_t>(rows, col, field, b, unsafe(b));
      break;
    }
    case TypeId::kLong: {
      auto* b = static_cast<arrow::Int64Builder*>(any.get());
      status = AppendColumn<int64_t>(rows, col, field, b, unsafe(b));
      break;
    }
    case TypeId::kFloat: {
      auto* b = static_cast<arrow::FloatBuilder*>(any.get());
      status = AppendColumn<float>(rows, col, field, b, unsafe(b));
      break;
    }
    case TypeId::kDouble: {
      auto* b = static_cast<arrow::DoubleBuilder*>(any.get());
      status = AppendColumn<double>(rows, col, field, b, unsafe(b));
      break;
    }
    case TypeId::kDecimal: {
      auto* b = static_cast<arrow::Decimal128Builder*>(any.get());
      const __int128 limit = Pow10(type.precision);
      status = AppendColumn<Decimal128>(
          rows, col, field, b, [&](const Decimal128& d, size_t r) -> Status {
            if (d.scale != type.scale || d.unscaled >= limit || d.unscaled <= -limit) {
              return InvalidArgument(Describe(field) + ", row " + std::to_string(r) + ": " +
                                     d.ToString() + " does not fit the type");
            }
            b->UnsafeAppend(arrow::Decimal128(static_cast<int64_t>(d.unscaled >> 64),
                                              static_cast<uint64_t>(d.unscaled)));
            return Status::Ok();
          });
      break;
    }
    case TypeId::kDate: {
      auto* b = static_cast<arrow::Date32Builder*>(any.get());
      status = AppendColumn<Date>(rows, col, field, b, [b](const Date& d, size_t) {
        b->UnsafeAppend(d.days);
        return Status::Ok();
      });
      break;
    }
    case TypeId::kTime: {
      auto* b = static_cast<arrow::Time64Builder*>(any.get());
      status = AppendColumn<Time>(rows, col, field, b, [b](const Time& t, size_t) {
        b->UnsafeAppend(t.micros);
        return Status::Ok();
      });
      break;
    }
    case TypeId::kTimestamp: {
      auto* b = static_cast<arrow::TimestampBuilder*>(any.get());
      status = AppendColumn<Timestamp>(rows, col, field, b, [b](const Timestamp& t, size_t) {
        b->UnsafeAppend(t.micros);
        return Status::Ok();
      });
      break;
    }
    case TypeId::kTimestampTz: {
      auto* b = static_cast<arrow::TimestampBuilder*>(any.get());
      status = AppendColumn<TimestampTz>(rows, col, field, b,
                                         [b](const TimestampTz& t, size_t) {
                                           b->UnsafeAppend(t.micros);
                                           return Status::Ok();
                                         });
      break;
    }
    case TypeId::kString: {
      auto* b = static_cast<arrow::StringBuilder*>(any.get());
      status = AppendColumn<std::string>(rows, col, field, b,
                                         [&](const std::string& s, size_t) {
                                           return Checked(b->Append(s), field);
                                         });
      break;
    }
    case TypeId::kUuid: {
      auto* b = static_cast<arrow::FixedSizeBinaryBuilder*>(any.get());
      status = AppendColumn<Uuid>(rows, col, field, b, [&](const Uuid& u, size_t) {
        return Checked(b->Append(u.bytes.data()), field);
      });
      break;
    }
    case TypeId::kBinary: {
      auto* b = static_cast<arrow::BinaryBuilder*>(any.get());
      status = AppendColumn<Binary>(rows, col, field, b, [&](const Binary& x, size_t) {
        return Checked(b->Append(x.bytes), field);
      });
      break;
    }
  }
  PG2I_RETURN_IF_ERROR(status);
  std::shared_ptr<arrow::Array> out;
  if (auto st = any->Finish(&out); !st.ok()) return io::FromArrow(st, Describe(field));
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// DataFileWriter

struct DataFileWriter::OpenFile {
  std::string uri;
  std::shared_ptr<arrow::io::OutputStream> sink;
  std::unique_ptr<parquet::ParquetFileWriter> writer;
  parquet::RowGroupWriter* row_group = nullptr;  // owned by `writer`
  int64_t rows = 0;
  std::vector<std::unique_ptr<ColumnMetrics>> metrics;
  std::shared_ptr<parquet::ArrowWriterProperties> arrow_properties;
  std::unique_ptr<parquet::ArrowWriteContext> context;
  std::vector<int16_t> def_levels;
};

DataFileWriter::DataFileWriter(std::shared_ptr<io::FileIO> io, FileContent content,
                               std::vector<Field> fields, std::vector<int32_t> equality_ids,
                               ParquetWriteOptions options)
    : io_(std::move(io)),
      content_(content),
      fields_(std::move(fields)),
      equality_ids_(std::move(equality_ids)),
      options_(std::move(options)) {}

DataFileWriter::~DataFileWriter() {
  if (open_ != nullptr) AbandonFile();
}

Status DataFileWriter::Init() {
  if (io_ == nullptr) return InvalidArgument("Parquet writer needs a FileIO");
  if (!options_.new_file_uri) {
    return InvalidArgument("ParquetWriteOptions.new_file_uri is not set");
  }
  if (options_.target_file_size <= 0 || options_.row_group_size <= 0 ||
      options_.page_size <= 0 || options_.slice_rows <= 0 ||
      options_.metrics_truncate_length <= 0) {
    return InvalidArgument("ParquetWriteOptions: sizes and lengths must be positive");
  }
  if (fields_.empty()) return InvalidArgument("Parquet writer needs at least one column");
  PG2I_ASSIGN_OR_RETURN(arrow_schema_, ArrowSchemaFor(fields_));
  parquet::schema::NodeVector nodes;
  for (const Field& field : fields_) nodes.push_back(ParquetNodeFor(field));
  parquet_schema_ = std::static_pointer_cast<GroupNode>(
      GroupNode::Make("table", Repetition::REQUIRED, nodes));
  parquet::WriterProperties::Builder builder;
  builder.compression(parquet::Compression::ZSTD)
      ->compression_level(options_.zstd_level)
      ->data_pagesize(options_.page_size)
      ->enable_dictionary()
      ->enable_statistics();
  writer_properties_ = builder.build();
  for (size_t c = 0; c < fields_.size(); ++c) {
    const Field& field = fields_[c];
    if (field.type.kind != DataType::Kind::kStruct) {
      leaves_.push_back({field, c, -1, false});
      continue;
    }
    for (size_t k = 0; k < field.type.fields.size(); ++k) {
      leaves_.push_back({field.type.fields[k], c, static_cast<int>(k), !field.required});
    }
  }
  full_bounds_.assign(leaves_.size(), false);
  if (content_ == FileContent::kPositionDeletes) full_bounds_[0] = true;
  return Status::Ok();
}

Result<std::unique_ptr<DataFileWriter>> DataFileWriter::MakeDataWriter(
    std::shared_ptr<io::FileIO> io, const Schema& schema, ParquetWriteOptions options) {
  std::unique_ptr<DataFileWriter> writer(new DataFileWriter(
      std::move(io), FileContent::kData, schema.fields(), {}, std::move(options)));
  PG2I_RETURN_IF_ERROR(writer->Init());
  return writer;
}

Result<std::unique_ptr<DataFileWriter>> DataFileWriter::MakeEqualityDeleteWriter(
    std::shared_ptr<io::FileIO> io, const Schema& schema, std::vector<int32_t> equality_ids,
    ParquetWriteOptions options) {
  if (equality_ids.empty()) {
    return InvalidArgument("equality delete writer needs at least one equality field id");
  }
  std::vector<Field> fields;
  std::vector<int32_t> ordered;
  for (const Field& field : schema.fields()) {
    if (std::find(equality_ids.begin(), equality_ids.end(), field.id) != equality_ids.end()) {
      fields.push_back(field);
      ordered.push_back(field.id);
    }
  }
  for (int32_t id : equality_ids) {
    if (std::find(ordered.begin(), ordered.end(), id) == ordered.end()) {
      return InvalidArgument("equality field id " + std::to_string(id) +
                             " is not a top-level column of the schema");
    }
  }
  std::unique_ptr<DataFileWriter> writer(
      new DataFileWriter(std::move(io), FileContent::kEqualityDeletes, std::move(fields),
                         std::move(ordered), std::move(options)));
  PG2I_RETURN_IF_ERROR(writer->Init());
  return writer;
}

Result<std::unique_ptr<DataFileWriter>> DataFileWriter::MakePositionDeleteWriter(
    std::shared_ptr<io::FileIO> io, ParquetWriteOptions options) {
  std::unique_ptr<DataFileWriter> writer(new DataFileWriter(
      std::move(io), FileContent::kPositionDeletes, PositionDeleteFields(), {},
      std::move(options)));
  PG2I_RETURN_IF_ERROR(writer->Init());
  return writer;
}

Status DataFileWriter::Fail(Status status) {
  if (open_ != nullptr) AbandonFile();
  failed_ = status;
  return status;
}

Status DataFileWriter::Write(std::span<const std::vector<Value>> rows) {
  if (!failed_.ok()) return failed_;
  if (closed_) return InvalidArgument("write after Close");
  if (rows.empty()) return Status::Ok();
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != fields_.size()) {
      return InvalidArgument("row " + std::to_string(r) + " has " +
                             std::to_string(rows[r].size()) + " values, expected " +
                             std::to_string(fields_.size()));
    }
  }
  // Convert in slices so a batch of any size is checked for rolling at the same cadence.
  const size_t slice = static_cast<size_t>(options_.slice_rows);
  for (size_t offset = 0; offset < rows.size(); offset += slice) {
    auto part = rows.subspan(offset, std::min(slice, rows.size() - offset));
    std::vector<std::shared_ptr<arrow::Array>> columns;
    columns.reserve(fields_.size());
    for (size_t c = 0; c < fields_.size(); ++c) {
      PG2I_ASSIGN_OR_RETURN(auto column, BuildColumn(part, c, fields_[c]));
      columns.push_back(std::move(column));
    }
    auto batch = arrow::RecordBatch::Make(arrow_schema_, static_cast<int64_t>(part.size()),
                                          std::move(columns));
    PG2I_RETURN_IF_ERROR(WriteSlice(*batch));
  }
  return Status::Ok();
}

Status DataFileWriter::Write(const arrow::RecordBatch& batch) {
  if (!failed_.ok()) return failed_;
  if (closed_) return InvalidArgument("write after Close");
  if (batch.num_columns() != static_cast<int>(fields_.size())) {
    return InvalidArgument("batch has " + std::to_string(batch.num_columns()) +
                           " columns, expected " + std::to_string(fields_.size()));
  }
  for (size_t c = 0; c < fields_.size(); ++c) {
    const auto& column = batch.column(static_cast<int>(c));
    if (!column->type()->Equals(*arrow_schema_->field(static_cast<int>(c))->type())) {
      return InvalidArgument(Describe(fields_[c]) + ": batch column has type " +
                             column->type()->ToString() + ", expected " +
                             arrow_schema_->field(static_cast<int>(c))->type()->ToString());
    }
    if (fields_[c].required && column->null_count() > 0) {
      return InvalidArgument(Describe(fields_[c]) + " is required, but the batch has " +
                             std::to_string(column->null_count()) + " NULLs");
    }
    if (fields_[c].type.kind == DataType::Kind::kStruct && column->null_count() > 0) {
      // A NULL struct's fields are NULL too: the metrics of its leaves count them so.
      const auto& st = static_cast<const arrow::StructArray&>(*column);
      for (int k = 0; k < st.num_fields(); ++k) {
        const std::shared_ptr<arrow::Array> child = st.field(k);
        for (int64_t i = 0; i < st.length(); ++i) {
          if (st.IsNull(i) && child->IsValid(i)) {
            return InvalidArgument(fields_[c].name + "." + fields_[c].type.fields[k].name +
                                   " has a value in row " + std::to_string(i) +
                                   " where its struct is NULL");
          }
        }
      }
    }
  }
  for (int64_t offset = 0; offset < batch.num_rows(); offset += options_.slice_rows) {
    PG2I_RETURN_IF_ERROR(WriteSlice(*batch.Slice(offset, options_.slice_rows)));
  }
  return Status::Ok();
}

Status DataFileWriter::OpenNewFile() {
  auto file = std::make_unique<OpenFile>();
  file->uri = options_.new_file_uri();
  PG2I_ASSIGN_OR_RETURN(std::unique_ptr<io::OutputStream> stream, io_->NewWriter(file->uri));
  file->sink = io::AdaptForArrow(std::move(stream));
  PG2I_RETURN_IF_ERROR(Guard("create Parquet file " + file->uri, [&] {
    file->writer =
        parquet::ParquetFileWriter::Open(file->sink, parquet_schema_, writer_properties_);
  }));
  for (const Leaf& leaf : leaves_) file->metrics.push_back(MakeMetrics(leaf.field.type.primitive));
  file->arrow_properties = parquet::ArrowWriterProperties::Builder().build();
  file->context = std::make_unique<parquet::ArrowWriteContext>(arrow::default_memory_pool(),
                                                               file->arrow_properties.get());
  open_ = std::move(file);
  file_first_rows_.push_back(rows_written_);
  return Status::Ok();
}

int64_t DataFileWriter::BufferedRowGroupBytes() const {
  const parquet::RowGroupWriter* rg = open_->row_group;
  if (rg == nullptr) return 0;
  const auto buffered = rg->estimated_buffered_stats();
  return rg->total_compressed_bytes() + rg->total_compressed_bytes_written() +
         buffered.def_level_bytes + buffered.rep_level_bytes + buffered.value_bytes +
         buffered.dict_bytes;
}

int64_t DataFileWriter::SinkBytes() const {
  auto tell = open_->sink->Tell();
  return tell.ok() ? *tell : 0;
}

Status DataFileWriter::CloseRowGroup() {
  OpenFile& file = *open_;
  const int64_t estimate = BufferedRowGroupBytes();
  const int64_t before = SinkBytes();
  PG2I_RETURN_IF_ERROR(Guard("write Parquet file " + file.uri, [&] {
    file.row_group->Close();
    file.row_group = nullptr;
  }));
  // Learn how the estimate (partly unencoded, uncompressed) relates to the bytes it became.
  if (estimate > 0) {
    size_ratio_ = std::clamp(static_cast<double>(SinkBytes() - before) / estimate, 0.01, 2.0);
    size_ratio_known_ = true;
  }
  return Status::Ok();
}

Status DataFileWriter::WriteSlice(const arrow::RecordBatch& slice) {
  if (slice.num_rows() == 0) return Status::Ok();
  if (open_ == nullptr) {
    if (Status st = OpenNewFile(); !st.ok()) return Fail(st);
  }
  OpenFile& file = *open_;
  const int64_t n = slice.num_rows();
  Status status = Guard("write Parquet file " + file.uri, [&] {
    if (file.row_group == nullptr) file.row_group = file.writer->AppendBufferedRowGroup();
    for (size_t c = 0; c < leaves_.size(); ++c) {
      const Leaf& leaf = leaves_[c];
      const arrow::Array* parent = nullptr;
      std::shared_ptr<arrow::Array> child;
      if (leaf.child >= 0) {
        parent = slice.column(static_cast<int>(leaf.column)).get();
        child = static_cast<const arrow::StructArray&>(*parent).field(leaf.child);
      }
      const arrow::Array& array = child ? *child : *slice.column(static_cast<int>(leaf.column));
      file.metrics[c]->Update(array);
      // Definition levels: 0 for a NULL struct, then one level per optional layer present.
      const int16_t p = leaf.parent_optional ? 1 : 0;
      const int16_t max_def = static_cast<int16_t>(p + (leaf.field.required ? 0 : 1));
      const int16_t* def_levels = nullptr;
      if (max_def > 0) {
        file.def_levels.resize(static_cast<size_t>(n));
        const bool parent_nulls = p > 0 && parent->null_count() > 0;
        if (array.null_count() == 0 && !parent_nulls) {
          std::fill(file.def_levels.begin(), file.def_levels.end(), max_def);
        } else {
          for (int64_t i = 0; i < n; ++i) {
            file.def_levels[i] = parent_nulls && parent->IsNull(i) ? int16_t{0}
                                 : array.IsValid(i)                ? max_def
                                                                   : p;
          }
        }
        def_levels = file.def_levels.data();
      }
      PARQUET_THROW_NOT_OK(file.row_group->column(static_cast<int>(c))
                               ->WriteArrow(def_levels, nullptr, n, array, file.context.get(),
                                            !leaf.field.required));
    }
  });
  if (!status.ok()) return Fail(status);
  file.rows += n;
  rows_written_ += n;

  // Roll or close the row group by the estimated compressed size. Until a row group has been
  // flushed the estimate's ratio is unknown; then flush one to measure before deciding to roll.
  const int64_t buffered = static_cast<int64_t>(size_ratio_ * BufferedRowGroupBytes());
  if (SinkBytes() + buffered >= options_.target_file_size) {
    if (!size_ratio_known_) {
      if (Status st = CloseRowGroup(); !st.ok()) return Fail(st);
      if (SinkBytes() < options_.target_file_size) return Status::Ok();
    }
    if (Status st = FinishFile(); !st.ok()) return Fail(st);
    return Status::Ok();
  }
  if (buffered >= std::min(options_.row_group_size, options_.target_file_size)) {
    if (Status st = CloseRowGroup(); !st.ok()) return Fail(st);
  }
  return Status::Ok();
}

Status DataFileWriter::FinishFile() {
  OpenFile& file = *open_;
  std::shared_ptr<parquet::FileMetaData> metadata;
  PG2I_RETURN_IF_ERROR(Guard("finish Parquet file " + file.uri, [&] {
    file.writer->Close();
    metadata = file.writer->metadata();
  }));
  auto size = file.sink->Tell();
  if (!size.ok()) return io::FromArrow(size.status(), "finish Parquet file " + file.uri);
  PG2I_RETURN_IF_ERROR(io::FromArrow(file.sink->Close(), "complete " + file.uri));

  DataFile out;
  out.content = content_;
  out.file_path = file.uri;
  out.record_count = file.rows;
  out.file_size_in_bytes = *size;
  out.equality_ids = equality_ids_;
  for (int rg = 0; rg < metadata->num_row_groups(); ++rg) {
    auto row_group = metadata->RowGroup(rg);
    for (int c = 0; c < row_group->num_columns(); ++c) {
      auto chunk = row_group->ColumnChunk(c);
      out.column_sizes[leaves_[static_cast<size_t>(c)].field.id] += chunk->total_compressed_size();
      if (c == 0) {
        // Iceberg Java's BlockMetaData.getStartingPos(): the first page of the row group.
        int64_t start = chunk->data_page_offset();
        if (chunk->has_dictionary_page() && chunk->dictionary_page_offset() > 0) {
          start = std::min(start, chunk->dictionary_page_offset());
        }
        out.split_offsets.push_back(start);
      }
    }
  }
  std::sort(out.split_offsets.begin(), out.split_offsets.end());
  for (size_t c = 0; c < leaves_.size(); ++c) {
    const Field& field = leaves_[c].field;
    const Type& type = field.type.primitive;
    const ColumnMetrics& m = *file.metrics[c];
    out.value_counts[field.id] = file.rows;
    out.null_value_counts[field.id] = m.nulls;
    if (IsFloating(type.id)) out.nan_value_counts[field.id] = m.nans;
    std::optional<Value> lower = m.Min();
    std::optional<Value> upper = m.Max();
    if (!lower || !upper) continue;
    if (!full_bounds_[c]) {
      const int32_t length = options_.metrics_truncate_length;
      PG2I_ASSIGN_OR_RETURN(lower, TruncateLowerBound(*lower, length));
      PG2I_ASSIGN_OR_RETURN(upper, TruncateUpperBound(*upper, length));
    }
    PG2I_ASSIGN_OR_RETURN(out.lower_bounds[field.id], SerializeSingleValue(type, *lower));
    if (upper) {
      PG2I_ASSIGN_OR_RETURN(out.upper_bounds[field.id], SerializeSingleValue(type, *upper));
    }
  }
  if (content_ == FileContent::kPositionDeletes) {
    const int32_t id = kPositionDeleteFilePathId;
    if (out.lower_bounds.count(id) && out.lower_bounds[id] == out.upper_bounds[id]) {
      out.referenced_data_file = out.lower_bounds[id];
    }
  }
  completed_.push_back(std::move(out));
  open_.reset();
  return Status::Ok();
}

void DataFileWriter::AbandonFile() {
  // Abort the stream first, so the Parquet writer's destructor (which writes a footer) finds
  // it closed and nothing becomes visible.
  (void)open_->sink->Abort();
  open_.reset();
}

Result<std::vector<DataFile>> DataFileWriter::Close() {
  if (!failed_.ok()) return failed_;
  if (closed_) return InvalidArgument("Close called twice");
  closed_ = true;
  if (open_ != nullptr) {
    if (Status st = FinishFile(); !st.ok()) return Fail(st);
  }
  return completed_;
}

// ---------------------------------------------------------------------------------------
// PositionDeleteWriter

Result<std::unique_ptr<PositionDeleteWriter>> PositionDeleteWriter::Make(
    std::shared_ptr<io::FileIO> io, ParquetWriteOptions options) {
  PG2I_ASSIGN_OR_RETURN(auto writer, DataFileWriter::MakePositionDeleteWriter(
                                         std::move(io), std::move(options)));
  return std::unique_ptr<PositionDeleteWriter>(new PositionDeleteWriter(std::move(writer)));
}

void PositionDeleteWriter::Add(std::string_view data_file_path, int64_t pos) {
  auto it = positions_.find(data_file_path);
  if (it == positions_.end()) {
    it = positions_.emplace(std::string(data_file_path), std::vector<int64_t>{}).first;
  }
  it->second.push_back(pos);
  ++pending_;
}

Result<std::vector<DataFile>> PositionDeleteWriter::Close() {
  constexpr int64_t kBatchRows = 64 * 1024;
  arrow::StringBuilder paths;
  arrow::Int64Builder positions;
  int64_t buffered = 0;
  auto flush = [&]() -> Status {
    if (buffered == 0) return Status::Ok();
    std::shared_ptr<arrow::Array> path_array, pos_array;
    PG2I_RETURN_IF_ERROR(io::FromArrow(paths.Finish(&path_array), "position deletes"));
    PG2I_RETURN_IF_ERROR(io::FromArrow(positions.Finish(&pos_array), "position deletes"));
    auto batch = arrow::RecordBatch::Make(writer_->arrow_schema(), buffered,
                                          {std::move(path_array), std::move(pos_array)});
    buffered = 0;
    return writer_->Write(*batch);
  };
  // std::map orders paths by their bytes (unsigned), the order the spec asks for.
  for (auto& [path, list] : positions_) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    for (int64_t pos : list) {
      PG2I_RETURN_IF_ERROR(io::FromArrow(paths.Append(path), "position deletes"));
      PG2I_RETURN_IF_ERROR(io::FromArrow(positions.Append(pos), "position deletes"));
      if (++buffered == kBatchRows) PG2I_RETURN_IF_ERROR(flush());
    }
  }
  PG2I_RETURN_IF_ERROR(flush());
  positions_.clear();
  pending_ = 0;
  return writer_->Close();
}

// ---------------------------------------------------------------------------------------
// DataFileReader

struct DataFileReader::State {
  std::unique_ptr<parquet::arrow::FileReader> reader;
  std::unique_ptr<arrow::RecordBatchReader> batches;  // null when no projected column exists
  std::vector<int32_t> file_ids;
  int64_t num_rows = 0;
  int64_t rows_read = 0;
  int64_t batch_rows = 0;
  std::vector<std::pair<int64_t, int64_t>> row_groups_read;  // (first row, rows)
};

DataFileReader::~DataFileReader() = default;

namespace {

int32_t FieldIdOf(const arrow::Field& field) {
  if (field.metadata() == nullptr) return -1;
  auto id = field.metadata()->Get(kParquetFieldIdKey);
  if (!id.ok()) return -1;
  try {
    return std::stoi(*id);
  } catch (...) {
    return -1;
  }
}

// Widens a numeric array to `To`, keeping its validity bitmap.
template <typename From, typename To>
std::shared_ptr<arrow::Array> Widen(const arrow::Array& array,
                                    const std::shared_ptr<arrow::DataType>& type) {
  const auto& from = static_cast<const arrow::NumericArray<From>&>(array);
  using Out = typename To::c_type;
  auto values = arrow::AllocateBuffer(array.length() * static_cast<int64_t>(sizeof(Out)));
  if (!values.ok()) return nullptr;
  auto* out = reinterpret_cast<Out*>((*values)->mutable_data());
  const auto* in = from.raw_values();
  for (int64_t i = 0; i < array.length(); ++i) out[i] = static_cast<Out>(in[i]);
  std::shared_ptr<arrow::Buffer> buffer = *std::move(values);
  return arrow::MakeArray(arrow::ArrayData::Make(
      type, array.length(), {array.null_bitmap(), std::move(buffer)}, array.null_count()));
}

// The array as the projection's type, applying Iceberg's promotions.
Result<std::shared_ptr<arrow::Array>> Promote(const std::shared_ptr<arrow::Array>& array,
                                              const Field& field, const std::string& uri) {
  const auto target = ArrowTypeFor(field.type.primitive);
  const arrow::DataType& source = *array->type();
  if (source.Equals(*target)) return array;
  auto view = [&]() -> Result<std::shared_ptr<arrow::Array>> {
    auto viewed = array->View(target);
    if (!viewed.ok()) return io::FromArrow(viewed.status(), Describe(field));
    return *std::move(viewed);
  };
  switch (field.type.primitive.id) {
    case TypeId::kLong:
      if (source.id() == arrow::Type::INT32) {
        auto out = Widen<arrow::Int32Type, arrow::Int64Type>(*array, target);
        if (out == nullptr) return ResourceExhausted("out of memory reading " + uri);
        return out;
      }
      break;
    case TypeId::kDouble:
      if (source.id() == arrow::Type::FLOAT) {
        auto out = Widen<arrow::FloatType, arrow::DoubleType>(*array, target);
        if (out == nullptr) return ResourceExhausted("out of memory reading " + uri);
        return out;
      }
      break;
    case TypeId::kDecimal:
      if (source.id() == arrow::Type::DECIMAL128) {
        const auto& d = static_cast<const arrow::Decimal128Type&>(source);
        if (d.scale() == field.type.primitive.scale &&
            d.precision() <= field.type.primitive.precision) {
          return view();
        }
      }
      break;
    case TypeId::kTimestamp:
    case TypeId::kTimestampTz:
      // Zone annotation differences only (same micros since the epoch).
      if (source.id() == arrow::Type::TIMESTAMP &&
          static_cast<const arrow::TimestampType&>(source).unit() == arrow::TimeUnit::MICRO) {
        return view();
      }
      break;
    case TypeId::kString:
      if (source.id() == arrow::Type::BINARY) return view();
      break;
    case TypeId::kBinary:
      if (source.id() == arrow::Type::STRING) return view();
      break;
    default:
      break;
  }
  return InvalidArgument(uri + ": " + Describe(field) + " is stored as " + source.ToString() +
                         ", which cannot be read as " + target->ToString());
}

}  // namespace

Result<std::unique_ptr<DataFileReader>> DataFileReader::Open(std::shared_ptr<io::FileIO> io,
                                                             const std::string& uri,
                                                             std::vector<Field> projection,
                                                             ParquetReadOptions options) {
  if (io == nullptr) return InvalidArgument("Parquet reader needs a FileIO");
  std::unique_ptr<DataFileReader> out(new DataFileReader());
  out->uri_ = uri;
  PG2I_ASSIGN_OR_RETURN(out->arrow_schema_, ArrowSchemaFor(projection));
  out->projection_ = std::move(projection);
  out->state_ = std::make_unique<State>();
  State& state = *out->state_;
  state.batch_rows = std::max<int64_t>(1, options.batch_rows);

  PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::io::RandomAccessFile> file, io->OpenReader(uri));
  parquet::arrow::FileReaderBuilder builder;
  try {
    if (auto st = builder.Open(std::move(file)); !st.ok()) return ParquetReadError(st, uri);
    parquet::ArrowReaderProperties properties;
    properties.set_batch_size(state.batch_rows);
    properties.set_use_threads(false);
    auto reader = builder.properties(properties)->Build();
    if (!reader.ok()) return ParquetReadError(reader.status(), uri);
    state.reader = *std::move(reader);
  } catch (const parquet::ParquetStatusException& e) {
    return ParquetReadError(e.status(), uri);
  } catch (const std::exception& e) {
    return DataLoss("read " + uri + ": not a readable Parquet file: " + e.what());
  }

  const parquet::FileMetaData& metadata = *state.reader->parquet_reader()->metadata();
  state.num_rows = metadata.num_rows();
  const parquet::SchemaDescriptor& schema = *metadata.schema();
  const GroupNode& root = *schema.group_node();
  std::map<int32_t, int> leaf_of_id;  // -1: a nested column
  for (int i = 0; i < root.field_count(); ++i) {
    const auto& node = root.field(i);
    state.file_ids.push_back(node->field_id());
    if (node->field_id() < 0) continue;
    leaf_of_id[node->field_id()] = node->is_primitive() ? schema.ColumnIndex(*node) : -1;
  }
  std::vector<int> columns;
  for (const Field& field : out->projection_) {
    auto it = leaf_of_id.find(field.id);
    if (it == leaf_of_id.end()) continue;  // added after this file was written: NULL
    if (it->second < 0) {
      return Unimplemented(uri + ": " + Describe(field) +
                           " is a nested column in the file; only primitive columns are read");
    }
    columns.push_back(it->second);
  }
  std::sort(columns.begin(), columns.end());
  std::vector<int> row_groups;
  int64_t first = 0;
  auto wanted = options.positions.begin();
  for (int g = 0; g < metadata.num_row_groups(); ++g) {
    const int64_t rows = metadata.RowGroup(g)->num_rows();
    bool take = options.positions.empty();
    while (wanted != options.positions.end() && *wanted < first + rows) {
      take = take || *wanted >= first;
      ++wanted;
    }
    if (take) {
      row_groups.push_back(g);
      state.row_groups_read.push_back({first, rows});
    }
    first += rows;
  }
  if (!options.positions.empty()) {
    state.num_rows = 0;
    for (const auto& [f, n] : state.row_groups_read) state.num_rows += n;
  }
  if (!columns.empty()) {
    auto batches = state.reader->GetRecordBatchReader(row_groups, columns);
    if (!batches.ok()) return ParquetReadError(batches.status(), uri);
    state.batches = *std::move(batches);
  }
  return out;
}

int64_t DataFileReader::num_rows() const { return state_->num_rows; }

const std::vector<std::pair<int64_t, int64_t>>& DataFileReader::row_groups_read() const {
  return state_->row_groups_read;
}

Result<std::vector<std::vector<Value>>> ReadDataFileRows(std::shared_ptr<io::FileIO> io,
                                                         const std::string& uri,
                                                         std::vector<Field> projection,
                                                         const std::vector<int64_t>& positions) {
  if (positions.empty()) return std::vector<std::vector<Value>>{};
  ParquetReadOptions options;
  options.positions = positions;
  PG2I_ASSIGN_OR_RETURN(auto reader,
                        DataFileReader::Open(std::move(io), uri, std::move(projection), options));
  PG2I_ASSIGN_OR_RETURN(auto rows, reader->ReadAllRows());
  std::vector<std::vector<Value>> out;
  out.reserve(positions.size());
  size_t g = 0;
  int64_t before = 0;  // rows read in the row groups before group g
  const auto& groups = reader->row_groups_read();
  for (int64_t pos : positions) {
    while (g < groups.size() && pos >= groups[g].first + groups[g].second) before += groups[g++].second;
    if (g == groups.size() || pos < groups[g].first) {
      return DataLoss(uri + " has no row " + std::to_string(pos));
    }
    const size_t at = static_cast<size_t>(before + pos - groups[g].first);
    if (at >= rows.size()) return DataLoss(uri + " has no row " + std::to_string(pos));
    out.push_back(std::move(rows[at]));
  }
  return out;
}

std::vector<int32_t> DataFileReader::file_field_ids() const { return state_->file_ids; }

Result<std::shared_ptr<arrow::RecordBatch>> DataFileReader::Next() {
  State& state = *state_;
  std::shared_ptr<arrow::RecordBatch> batch;
  int64_t n = 0;
  if (state.batches != nullptr) {
    arrow::Status st;
    try {
      st = state.batches->ReadNext(&batch);
    } catch (const std::exception& e) {
      return DataLoss("read " + uri_ + ": " + e.what());
    }
    if (!st.ok()) return ParquetReadError(st, uri_);
    if (batch == nullptr) return std::shared_ptr<arrow::RecordBatch>();
    n = batch->num_rows();
  } else {
    n = std::min(state.batch_rows, state.num_rows - state.rows_read);
    if (n <= 0) return std::shared_ptr<arrow::RecordBatch>();
  }
  state.rows_read += n;

  std::map<int32_t, std::shared_ptr<arrow::Array>> by_id;
  if (batch != nullptr) {
    for (int i = 0; i < batch->num_columns(); ++i) {
      by_id[FieldIdOf(*batch->schema()->field(i))] = batch->column(i);
    }
  }
  std::vector<std::shared_ptr<arrow::Array>> columns;
  columns.reserve(projection_.size());
  for (const Field& field : projection_) {
    auto it = by_id.find(field.id);
    if (it == by_id.end()) {
      auto nulls = arrow::MakeArrayOfNull(ArrowTypeFor(field.type.primitive), n);
      if (!nulls.ok()) return io::FromArrow(nulls.status(), Describe(field));
      columns.push_back(*std::move(nulls));
      continue;
    }
    PG2I_ASSIGN_OR_RETURN(auto column, Promote(it->second, field, uri_));
    columns.push_back(std::move(column));
  }
  return arrow::RecordBatch::Make(arrow_schema_, n, std::move(columns));
}

Result<std::vector<std::vector<Value>>> DataFileReader::ReadAllRows() {
  std::vector<std::vector<Value>> rows;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::RecordBatch> batch, Next());
    if (batch == nullptr) break;
    PG2I_ASSIGN_OR_RETURN(auto part, RowsOf(*batch, projection_));
    rows.insert(rows.end(), std::make_move_iterator(part.begin()),
                std::make_move_iterator(part.end()));
  }
  return rows;
}

Result<std::vector<std::vector<Value>>> ReadDataFile(std::shared_ptr<io::FileIO> io,
                                                     const std::string& uri,
                                                     std::vector<Field> projection) {
  PG2I_ASSIGN_OR_RETURN(auto reader,
                        DataFileReader::Open(std::move(io), uri, std::move(projection)));
  return reader->ReadAllRows();
}

}  // namespace pg2iceberg::iceberg

namespace pg2iceberg::iceberg {

Result<std::shared_ptr<arrow::RecordBatch>> RecordBatchOf(
    std::span<const std::vector<Value>> rows, const std::vector<Field>& fields) {
  PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Schema> schema, ArrowSchemaFor(fields));
  std::vector<std::shared_ptr<arrow::Array>> columns;
  columns.reserve(fields.size());
  for (size_t c = 0; c < fields.size(); ++c) {
    PG2I_RETURN_IF_ERROR(CheckWritable(fields[c]));
    PG2I_ASSIGN_OR_RETURN(auto column, BuildColumn(rows, c, fields[c]));
    columns.push_back(std::move(column));
  }
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(rows.size()), std::move(columns));
}

}  // namespace pg2iceberg::iceberg

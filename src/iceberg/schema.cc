#include "iceberg/schema.h"

#include <algorithm>

namespace pg2iceberg::iceberg {
namespace {

const Field* FindIn(const std::vector<Field>& fields, int32_t id) {
  for (const Field& f : fields) {
    if (f.id == id) return &f;
    if (const Field* nested = FindIn(f.type.fields, id)) return nested;
  }
  return nullptr;
}

int32_t MaxIn(const std::vector<Field>& fields) {
  int32_t m = 0;
  for (const Field& f : fields) m = std::max({m, f.id, MaxIn(f.type.fields)});
  return m;
}

}  // namespace

bool DataType::operator==(const DataType& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case Kind::kPrimitive: return primitive == o.primitive;
    case Kind::kOpaque: return opaque == o.opaque;
    default: return fields == o.fields;
  }
}

const Field* Schema::FindById(int32_t id) const { return FindIn(fields_, id); }

const Field* Schema::FindByName(const std::string& name) const {
  for (const Field& f : fields_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

int32_t Schema::HighestFieldId() const { return MaxIn(fields_); }

}  // namespace pg2iceberg::iceberg

#include "materialize/history.h"

#include <arrow/api.h>

#include <algorithm>

#include "iceberg/metadata_edit.h"
#include "iceberg/parquet_io.h"
#include "materialize/columns.h"

namespace pg2iceberg::materialize {
namespace {

using iceberg::DataType;
using iceberg::Field;

Status CheckColumns(const std::vector<int>& columns, size_t width) {
  for (int c : columns) {
    if (c < 0 || static_cast<size_t>(c) >= width) {
      return InvalidArgument("unchanged-TOAST column index out of range");
    }
  }
  return Status::Ok();
}

// The history table's own columns, after the data columns.
std::vector<Field> MetaFields(int32_t first_id) {
  auto f = [&](const char* name, TypeId t) {
    return Field{first_id++, name, false, DataType::Primitive(Type{t}), "", {}, {}};
  };
  std::vector<Field> out;
  out.push_back(f(kHistoryOpColumn, TypeId::kString));
  out.push_back(f(kHistoryCommitTsColumn, TypeId::kTimestampTz));
  out.push_back(f(kHistoryLsnColumn, TypeId::kLong));
  out.push_back(f(kHistoryXidColumn, TypeId::kLong));
  out.push_back(f(kHistorySeqColumn, TypeId::kLong));
  return out;
}

bool IsHistoryColumn(const std::string& name) {
  for (const char* c : {kHistoryOpColumn, kHistoryCommitTsColumn, kHistoryLsnColumn,
                        kHistoryXidColumn, kHistorySeqColumn, kHistoryBeforeColumn}) {
    if (name == c) return true;
  }
  return false;
}

// The columns of `data` as optional fields of a history table, ids from `*next_id`.
Field AsHistoryField(const Field& data, int32_t* next_id) {
  return Field{(*next_id)++, data.name, false, data.type, "", {}, {}};
}

}  // namespace

Result<HistoryRows> HistoryOf(const std::vector<HistoryChange>& changes,
                              const std::vector<int>& key_columns, size_t width, int64_t emit_from,
                              const std::map<fold::Key, std::vector<Value>>& prior) {
  HistoryRows out;
  // Each row's values as of the change being replayed, where the batch has shown them.
  std::map<fold::Key, std::vector<Value>> image;
  bool truncated = false;  // rows before a TRUNCATE of this batch are gone
  for (const HistoryChange& hc : changes) {
    const fold::Change& c = hc.change;
    const bool emit = hc.offset >= emit_from;
    HistoryRow row;
    row.op = c.op;
    row.lsn = c.commit_lsn;
    row.xid = hc.xid;
    row.commit_ts_micros = hc.commit_ts_micros;
    row.seq = c.seq;
    if (c.op == fold::Op::kTruncate) {
      image.clear();
      truncated = true;
      row.values.assign(width, Value());
      if (emit) out.rows.push_back(std::move(row));
      continue;
    }
    if (c.values.size() != width) {
      return InvalidArgument("a change has " + std::to_string(c.values.size()) +
                             " columns, expected " + std::to_string(width));
    }
    PG2I_ASSIGN_OR_RETURN(fold::Key key, fold::KeyOf(c.values, key_columns));
    fold::Key prev_key = key;
    if (c.op == fold::Op::kUpdate && !c.old_key.empty()) prev_key = c.old_key;
    // The row before this change: shown earlier in the batch, else as it was before the batch.
    const std::vector<Value>* prev = nullptr;
    if (auto it = image.find(prev_key); it != image.end()) {
      prev = &it->second;
    } else if (!truncated) {
      if (auto p = prior.find(prev_key); p != prior.end()) prev = &p->second;
    }
    // Columns sent as unchanged TOAST: the old row's value (FULL), else the previous one.
    auto resolve = [&](std::vector<Value>& values, const std::vector<int>& unchanged,
                       const std::vector<Value>* old_row,
                       const std::vector<int>& old_unchanged) -> Status {
      PG2I_RETURN_IF_ERROR(CheckColumns(unchanged, width));
      for (int u : unchanged) {
        const size_t i = static_cast<size_t>(u);
        const bool in_old = old_row != nullptr && old_row->size() == width &&
                            std::find(old_unchanged.begin(), old_unchanged.end(), u) ==
                                old_unchanged.end();
        if (in_old) {
          values[i] = (*old_row)[i];
        } else if (prev != nullptr) {
          values[i] = (*prev)[i];
        } else {
          // Also for a change that gives no row: later rows resolve from what it leaves.
          values[i] = Value();
          out.missing[prev_key].insert(u);
        }
      }
      return Status::Ok();
    };
    row.values = c.values;
    const stage::BeforeImage& b = hc.before;
    if (b.kind != stage::BeforeImage::Kind::kNone) {
      const std::vector<Value>& old = c.op == fold::Op::kDelete ? c.values : b.values;
      if (old.size() != width) {
        return InvalidArgument("an old row has " + std::to_string(old.size()) +
                               " columns, expected " + std::to_string(width));
      }
      row.before = old;
      if (b.kind == stage::BeforeImage::Kind::kKey) {
        // Only the replica identity's columns were sent.
        for (size_t i = 0; i < width; ++i) {
          if (std::find(key_columns.begin(), key_columns.end(), static_cast<int>(i)) ==
              key_columns.end()) {
            (*row.before)[i] = Value();
          }
        }
      } else {
        PG2I_RETURN_IF_ERROR(resolve(*row.before, b.unchanged, nullptr, {}));
      }
      if (c.op == fold::Op::kDelete) row.values = *row.before;
    }
    if (c.op == fold::Op::kDelete) {
      image.erase(key);
    } else {
      const bool full_old = b.kind == stage::BeforeImage::Kind::kRow && c.op == fold::Op::kUpdate;
      PG2I_RETURN_IF_ERROR(resolve(row.values, c.unchanged, full_old ? &b.values : nullptr,
                                   b.unchanged));
      if (prev_key != key) image.erase(prev_key);
      image[key] = row.values;
    }
    if (emit) out.rows.push_back(std::move(row));
  }
  return out;
}

std::vector<Field> HistoryDataFields(const std::vector<Field>& mirror) {
  std::vector<Field> out;
  for (const Field& f : mirror) {
    if (f.name == kCommitTsColumn || f.name == kLsnColumn) continue;  // include_metadata's
    out.push_back(f);
  }
  return out;
}

Result<std::vector<Field>> NewHistoryFields(const std::vector<Field>& data) {
  std::vector<Field> out;
  int32_t id = 1;
  for (const Field& f : data) {
    if (IsHistoryColumn(f.name)) {
      return FailedPrecondition("the table has a column named " + f.name +
                                ", which its history table uses for the change's metadata; "
                                "rename the column, or keep only the mirror "
                                "(tables[].iceberg.mode: mirror)");
    }
    out.push_back(AsHistoryField(f, &id));
  }
  for (Field& m : MetaFields(id)) out.push_back(std::move(m));
  id += static_cast<int32_t>(MetaFields(0).size());
  Field before{id++, kHistoryBeforeColumn, false, DataType{DataType::Kind::kStruct, {}, {}, {}},
               "", {}, {}};
  for (const Field& f : data) before.type.fields.push_back(AsHistoryField(f, &id));
  out.push_back(std::move(before));
  return out;
}

Result<std::optional<std::vector<Field>>> EvolveHistoryFields(const std::vector<Field>& current,
                                                              const std::vector<Field>& data,
                                                              int32_t* last_column_id) {
  std::vector<Field> out = current;
  bool changed = false;
  Field* before = nullptr;
  for (Field& f : out) {
    if (f.name == kHistoryBeforeColumn && f.type.kind == DataType::Kind::kStruct) before = &f;
  }
  if (before == nullptr) {
    return FailedPrecondition("the history table has no _before struct column; it was not "
                              "written by pg2iceberg, or was altered");
  }
  // Adds `f` to `into`, or widens the column of its name there.
  auto merge = [&](std::vector<Field>& into, const Field& f) -> Status {
    for (Field& have : into) {
      if (have.name != f.name) continue;
      if (have.type == f.type) return Status::Ok();
      if (!iceberg::CanPromote(have.type, f.type, 2)) {
        return FailedPrecondition("column " + f.name + " of the history table cannot change "
                                  "its type to the mirror's; drop the history table to start "
                                  "it again");
      }
      have.type = f.type;
      changed = true;
      return Status::Ok();
    }
    into.push_back(Field{++*last_column_id, f.name, false, f.type, "", {}, {}});
    changed = true;
    return Status::Ok();
  };
  const size_t before_index = static_cast<size_t>(before - out.data());
  for (const Field& f : data) {
    if (IsHistoryColumn(f.name)) {
      return FailedPrecondition("the table has a column named " + f.name +
                                ", which its history table uses for the change's metadata; "
                                "rename the column");
    }
    PG2I_RETURN_IF_ERROR(merge(out[before_index].type.fields, f));
    PG2I_RETURN_IF_ERROR(merge(out, f));
  }
  if (!changed) return std::optional<std::vector<Field>>();
  return std::optional<std::vector<Field>>(std::move(out));
}

HistoryLayout HistoryLayoutOf(const std::vector<Field>& fields, const std::vector<Field>& data) {
  auto data_index = [&](const std::string& name) {
    for (size_t d = 0; d < data.size(); ++d) {
      if (data[d].name == name) return static_cast<int>(d);
    }
    return HistoryLayout::kFromNothing;
  };
  HistoryLayout out;
  out.fields = fields;
  for (const Field& f : fields) {
    std::vector<int> children;
    int source = HistoryLayout::kFromNothing;
    if (f.name == kHistoryOpColumn) {
      source = HistoryLayout::kFromOp;
    } else if (f.name == kHistoryCommitTsColumn) {
      source = HistoryLayout::kFromCommitTs;
    } else if (f.name == kHistoryLsnColumn) {
      source = HistoryLayout::kFromLsn;
    } else if (f.name == kHistoryXidColumn) {
      source = HistoryLayout::kFromXid;
    } else if (f.name == kHistorySeqColumn) {
      source = HistoryLayout::kFromSeq;
    } else if (f.type.is_primitive()) {
      source = data_index(f.name);
    } else {
      for (const Field& c : f.type.fields) {
        children.push_back(c.type.is_primitive() ? data_index(c.name) : HistoryLayout::kFromNothing);
      }
    }
    out.source.push_back(source);
    out.children.push_back(std::move(children));
  }
  return out;
}

std::vector<Value> HistoryRowValues(const HistoryLayout& layout, const HistoryRow& row) {
  std::vector<Value> out(layout.fields.size());
  for (size_t i = 0; i < layout.fields.size(); ++i) {
    switch (const int source = layout.source[i]) {
      case HistoryLayout::kFromNothing: break;
      case HistoryLayout::kFromOp: out[i] = std::string(1, static_cast<char>(row.op)); break;
      case HistoryLayout::kFromCommitTs:
        if (row.commit_ts_micros != 0) out[i] = TimestampTz{row.commit_ts_micros};
        break;
      case HistoryLayout::kFromLsn:
        if (row.lsn.valid()) out[i] = static_cast<int64_t>(row.lsn.value());
        break;
      case HistoryLayout::kFromXid:
        if (row.xid.valid()) out[i] = static_cast<int64_t>(row.xid.value());
        break;
      case HistoryLayout::kFromSeq: out[i] = row.seq; break;
      default:
        out[i] = WidenValue(row.values[static_cast<size_t>(source)], layout.fields[i].type.primitive);
    }
  }
  return out;
}

Result<std::shared_ptr<arrow::RecordBatch>> HistoryBatch(const HistoryLayout& layout,
                                                         const std::vector<const HistoryRow*>& rows) {
  const std::vector<Field>& fields = layout.fields;
  PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Schema> schema, iceberg::ArrowSchemaFor(fields));
  std::vector<Field> flat;  // the primitive columns, in schema order
  for (const Field& f : fields) {
    if (f.type.is_primitive()) flat.push_back(f);
  }
  std::vector<std::vector<Value>> flat_rows;
  flat_rows.reserve(rows.size());
  for (const HistoryRow* r : rows) {
    std::vector<Value> all = HistoryRowValues(layout, *r);
    std::vector<Value> prim;
    prim.reserve(flat.size());
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].type.is_primitive()) prim.push_back(std::move(all[i]));
    }
    flat_rows.push_back(std::move(prim));
  }
  PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::RecordBatch> prim_batch,
                        iceberg::RecordBatchOf(flat_rows, flat));
  std::vector<std::shared_ptr<arrow::Array>> columns;
  int next_prim = 0;
  const int64_t n = static_cast<int64_t>(rows.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    const Field& f = fields[i];
    if (f.type.is_primitive()) {
      columns.push_back(prim_batch->column(next_prim++));
      continue;
    }
    // The _before struct: each field from the row's old values; NULL when not sent.
    const std::vector<Field>& children = f.type.fields;
    const std::vector<int>& data_of = layout.children[i];
    std::vector<std::vector<Value>> before_rows;
    before_rows.reserve(rows.size());
    auto validity = arrow::AllocateBitmap(n);
    if (!validity.ok()) return ResourceExhausted(validity.status().ToString());
    int64_t nulls = 0;
    for (int64_t r = 0; r < n; ++r) {
      const HistoryRow& row = *rows[static_cast<size_t>(r)];
      std::vector<Value> values(children.size());
      if (row.before) {
        for (size_t k = 0; k < children.size(); ++k) {
          if (data_of[k] >= 0) {
            values[k] = WidenValue((*row.before)[static_cast<size_t>(data_of[k])],
                                   children[k].type.primitive);
          }
        }
        arrow::bit_util::SetBit((*validity)->mutable_data(), r);
      } else {
        arrow::bit_util::ClearBit((*validity)->mutable_data(), r);
        ++nulls;
      }
      before_rows.push_back(std::move(values));
    }
    PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::RecordBatch> inner,
                          iceberg::RecordBatchOf(before_rows, children));
    columns.push_back(std::make_shared<arrow::StructArray>(
        schema->field(static_cast<int>(i))->type(), n, inner->columns(),
        std::move(*validity), nulls));
  }
  return arrow::RecordBatch::Make(schema, n, std::move(columns));
}

}  // namespace pg2iceberg::materialize

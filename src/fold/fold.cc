#include "fold/fold.h"

#include <string>

namespace pg2iceberg::fold {

Result<Key> KeyOf(const std::vector<Value>& values, const std::vector<int>& key_columns) {
  Key k;
  k.reserve(key_columns.size());
  for (int c : key_columns) {
    if (IsNull(values[static_cast<size_t>(c)])) {
      return InvalidArgument("a change has NULL in primary-key column #" + std::to_string(c));
    }
    k.push_back(values[static_cast<size_t>(c)]);
  }
  return k;
}

Result<FoldResult> Fold(std::vector<Change> changes, const std::vector<int>& key_columns,
                        size_t width) {
  FoldResult out;
  for (Change& c : changes) {
    ++out.changes;
    if (c.op == Op::kTruncate) {
      out.truncated = true;
      out.rows.clear();
      continue;
    }
    if (c.values.size() != width) {
      return InvalidArgument("a change has " + std::to_string(c.values.size()) +
                             " columns, expected " + std::to_string(width));
    }
    PG2I_ASSIGN_OR_RETURN(Key key, KeyOf(c.values, key_columns));
    if (c.op == Op::kDelete) {
      out.rows.insert_or_assign(std::move(key),
                                FoldedRow{FoldedRow::Kind::kDelete, {}, {}, {}, c.commit_lsn});
      continue;
    }
    // Insert or update: the new image, with unchanged columns taken from the previous image
    // of the same row (under its old key when the key changed).
    Key prev_key = key;
    if (c.op == Op::kUpdate && !c.old_key.empty() && c.old_key != key) {
      for (const Value& v : c.old_key) {
        if (IsNull(v)) return InvalidArgument("an update has NULL in its old key");
      }
      prev_key = c.old_key;
    }
    FoldedRow next{FoldedRow::Kind::kUpsert, std::move(c.values), {}, {}, c.commit_lsn};
    if (!c.unchanged.empty()) {
      auto prev = out.rows.find(prev_key);
      const bool have_prev = prev != out.rows.end() && prev->second.kind == FoldedRow::Kind::kUpsert;
      for (int col : c.unchanged) {
        if (col < 0 || static_cast<size_t>(col) >= width) {
          return InvalidArgument("unchanged-TOAST column index out of range");
        }
        if (have_prev && !prev->second.unresolved.count(col)) {
          next.values[static_cast<size_t>(col)] = prev->second.values[static_cast<size_t>(col)];
        } else {
          next.unresolved.insert(col);
        }
      }
      if (!next.unresolved.empty()) {
        // Still unknown: the live table has it, under the key the row had before the batch.
        next.resolve_from = have_prev && !prev->second.resolve_from.empty()
                                ? prev->second.resolve_from
                                : prev_key;
      }
    }
    if (prev_key != key) {
      out.rows.insert_or_assign(std::move(prev_key),
                                FoldedRow{FoldedRow::Kind::kDelete, {}, {}, {}, c.commit_lsn});
    }
    out.rows.insert_or_assign(std::move(key), std::move(next));
  }
  return out;
}

}  // namespace pg2iceberg::fold

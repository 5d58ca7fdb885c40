#include "materialize/columns.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "iceberg/metadata_edit.h"

namespace pg2iceberg::materialize {

using iceberg::Field;

std::map<int32_t, int> ParseColumnAttnums(const std::string& text) {
  std::map<int32_t, int> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    const size_t colon = item.find(':');
    if (colon != std::string::npos) {
      const long id = std::strtol(item.c_str(), nullptr, 10);
      const long attnum = std::strtol(item.c_str() + colon + 1, nullptr, 10);
      if (id > 0 && attnum > 0 && id <= INT32_MAX && attnum <= 32767) {
        out[static_cast<int32_t>(id)] = static_cast<int>(attnum);
      }
    }
    pos = end + 1;
  }
  return out;
}

std::string FormatColumnAttnums(const std::map<int32_t, int>& attnums) {
  std::string out;
  for (const auto& [id, attnum] : attnums) {
    if (!out.empty()) out += ',';
    out += std::to_string(id) + ':' + std::to_string(attnum);
  }
  return out;
}

namespace {

// Fields Iceberg cannot drop from the schema: the key, and partition sources.
bool Pinned(const iceberg::TableMetadata& m, const iceberg::Schema& schema, int32_t id) {
  const auto& key = schema.identifier_field_ids();
  if (std::find(key.begin(), key.end(), id) != key.end()) return true;
  for (const auto& spec : m.partition_specs) {
    for (const auto& pf : spec.fields) {
      if (pf.source_id == id) return true;
    }
  }
  return false;
}

}  // namespace

namespace {

bool Promotable(const Type& from, const Type& to) {
  return iceberg::CanPromote(iceberg::DataType::Primitive(from), iceberg::DataType::Primitive(to),
                             /*format_version=*/2);
}

// The field each column of `latest` is (0: a new column): by attnum where the field's is known,
// else by name (a column of unknown attnum matches any field of its name; a known one only
// fields without an attnum, from tables written before attnums were recorded).
std::vector<int32_t> MatchColumns(const std::vector<Field>& fields,
                                  const stage::StagedRelation& latest,
                                  const std::map<int32_t, int>& known, std::set<int32_t>* claimed) {
  std::map<int, int32_t> field_of_attnum;
  for (const auto& [id, attnum] : known) field_of_attnum[attnum] = id;
  std::vector<int32_t> target(latest.columns.size(), 0);
  for (size_t i = 0; i < latest.columns.size(); ++i) {
    const int attnum = latest.columns[i].attnum;
    if (auto it = field_of_attnum.find(attnum); attnum > 0 && it != field_of_attnum.end()) {
      target[i] = it->second;
      claimed->insert(it->second);
    }
  }
  for (size_t i = 0; i < latest.columns.size(); ++i) {
    if (target[i] != 0) continue;
    const stage::StagedColumn& col = latest.columns[i];
    for (const Field& f : fields) {
      if (f.name != col.name || claimed->count(f.id)) continue;
      if (col.attnum > 0 && known.count(f.id)) continue;
      target[i] = f.id;
      claimed->insert(f.id);
      break;
    }
  }
  return target;
}

// Drops the fields gone from PostgreSQL (a known field whose attnum left, or an unmatched field
// without one whose name a column now uses), except those Iceberg cannot drop.
void DropGoneFields(const iceberg::TableMetadata& m, const stage::StagedRelation& latest,
                    const std::set<int32_t>& claimed, bool rematch,
                    std::map<int32_t, int>* known, ColumnPlan* plan) {
  std::set<std::string> names;
  for (const auto& c : latest.columns) names.insert(c.name);
  std::vector<Field> kept_fields;
  for (const Field& f : plan->fields) {
    const bool gone =
        !claimed.count(f.id) && (rematch || known->count(f.id) || names.count(f.name));
    if (!gone) {
      kept_fields.push_back(f);
    } else if (Pinned(m, *m.CurrentSchema(), f.id)) {
      kept_fields.push_back(f);
      plan->kept.push_back(f.name);
    } else {
      plan->dropped.push_back(f.name);
      known->erase(f.id);
    }
  }
  plan->fields = std::move(kept_fields);
}

// Adds the new columns, renames and widens the matched ones.
Status ApplyColumns(const stage::StagedRelation& latest, std::vector<int32_t> target,
                    const std::string& table, std::map<int32_t, int>* known, ColumnPlan* plan) {
  for (size_t i = 0; i < latest.columns.size(); ++i) {
    const stage::StagedColumn& col = latest.columns[i];
    if (target[i] == 0) {
      target[i] = ++plan->last_column_id;
      plan->fields.push_back(
          Field{target[i], col.name, false, iceberg::DataType::Primitive(col.type), "", {}, {}});
    } else {
      auto f = std::find_if(plan->fields.begin(), plan->fields.end(),
                            [&](const Field& x) { return x.id == target[i]; });
      if (f->name != col.name) {
        plan->renamed.push_back(f->name + " → " + col.name);
        f->name = col.name;
      }
      if (f->type.is_primitive() && !(f->type.primitive == col.type) &&
          !Promotable(col.type, f->type.primitive)) {  // a narrower source is fine
        if (!Promotable(f->type.primitive, col.type)) {
          return FailedPrecondition(
              "column " + col.name + " of " + table + " changed from " +
              f->type.primitive.ToString() + " to " + col.type.ToString() +
              ", which Iceberg cannot evolve in place; add a new column instead, or drop and "
              "re-create the Iceberg table and re-snapshot");
        }
        f->type = iceberg::DataType::Primitive(col.type);
      }
    }
    if (col.attnum > 0) (*known)[target[i]] = col.attnum;
  }
  std::set<std::string> seen;
  for (const Field& f : plan->fields) {
    if (!seen.insert(f.name).second) {
      return FailedPrecondition(
          "column " + f.name + " of " + table +
          " was dropped and added again, but Iceberg keeps the old field (it is part of the key "
          "or a partition source), so the two cannot share the name; rename the new column in "
          "PostgreSQL, or drop and re-create the Iceberg table and re-snapshot");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ColumnPlan> PlanColumns(const iceberg::TableMetadata& m, const stage::StagedRelation& latest,
                               const std::string& table, bool rematch) {
  const iceberg::Schema& cur = *m.CurrentSchema();
  ColumnPlan plan;
  plan.fields = cur.fields();
  plan.last_column_id = m.last_column_id;

  std::map<int32_t, int> stored;
  if (auto it = m.properties.find(kColumnAttnumsProperty); it != m.properties.end()) {
    stored = ParseColumnAttnums(it->second);
  }
  if (rematch) stored.clear();
  std::map<int32_t, int> known;  // entries for fields of the current schema
  for (const Field& f : plan.fields) {
    if (auto it = stored.find(f.id); it != stored.end()) known[f.id] = it->second;
  }
  const std::map<int32_t, int> known_before = known;
  std::set<int32_t> claimed;
  std::vector<int32_t> target = MatchColumns(plan.fields, latest, known, &claimed);
  // Every column of the latest relation has an attnum: fields whose attnum is gone were dropped.
  const bool exact = std::all_of(latest.columns.begin(), latest.columns.end(),
                                 [](const stage::StagedColumn& c) { return c.attnum > 0; });
  if (exact) DropGoneFields(m, latest, claimed, rematch, &known, &plan);
  PG2I_RETURN_IF_ERROR(ApplyColumns(latest, std::move(target), table, &known, &plan));
  plan.schema_changed = plan.fields != cur.fields();
  plan.attnums = std::move(known);
  plan.attnums_changed = plan.attnums != known_before;
  return plan;
}

std::vector<int> ColumnsOf(const std::vector<Field>& fields, const std::map<int32_t, int>& attnums,
                           const stage::StagedRelation& relation) {
  std::vector<int> out(fields.size(), -1);
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto known = attnums.find(fields[i].id);
    for (size_t c = 0; c < relation.columns.size(); ++c) {
      const stage::StagedColumn& col = relation.columns[c];
      const bool by_attnum = known != attnums.end() && col.attnum > 0;
      if (by_attnum ? col.attnum == known->second : col.name == fields[i].name) {
        out[i] = static_cast<int>(c);
        break;
      }
    }
  }
  return out;
}

Status AddMetadataColumns(const stage::StagedRelation& latest, const std::string& table,
                          ColumnPlan* plan) {
  const std::pair<const char*, Type> columns[] = {{kCommitTsColumn, Type{TypeId::kTimestampTz}},
                                                  {kLsnColumn, Type{TypeId::kLong}}};
  for (const auto& [name, type] : columns) {
    for (const auto& c : latest.columns) {
      if (c.name == name) {
        return FailedPrecondition("table " + table + " has a column named " + name +
                                  ", which sink.include_metadata adds; rename the column or "
                                  "turn include_metadata off");
      }
    }
    const bool present = std::any_of(plan->fields.begin(), plan->fields.end(),
                                     [&](const Field& f) { return f.name == name; });
    if (present) continue;
    plan->fields.push_back(Field{++plan->last_column_id, name, false,
                                 iceberg::DataType::Primitive(type), "", {}, {}});
    plan->schema_changed = true;
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::materialize

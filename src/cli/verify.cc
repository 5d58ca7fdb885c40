// `verify`: PostgreSQL (one REPEATABLE READ snapshot) against Iceberg, by primary key.
//
// PostgreSQL rows go through the same type mapping as replication (pg/values.h), widened to
// the Iceberg column types. Iceberg rows are the live rows of the current snapshot: a data row
// is gone when an equality delete on its key has a higher data sequence number. Reports per
// table the rows missing from Iceberg, extra in Iceberg, different, and keys live twice.
#include "cli/verify.h"

#include <cstdio>
#include <map>

#include "base/log.h"
#include "catalog/rest_catalog.h"
#include "catalog/sql_catalog.h"
#include "iceberg/parquet_io.h"
#include "iceberg/snapshot_producer.h"
#include "io/arrow_file_io.h"
#include "pg/catalog.h"
#include "pg/values.h"

namespace pg2iceberg::cli {
namespace {

using Row = std::vector<Value>;
using Key = std::vector<Value>;

std::string Show(const Row& r) {
  std::string s = "(";
  for (size_t i = 0; i < r.size(); ++i) s += (i ? ", " : "") + DebugString(r[i]);
  return s + ")";
}

}  // namespace

Result<TableDiff> VerifyTable(pg::Connection& src, const config::TableConfig& table,
                              catalog::Catalog& cat, std::shared_ptr<io::FileIO> io,
                              const std::vector<std::string>& ns, int max_samples) {
  TableDiff d;
  d.table = table.name.ToString();
  PG2I_ASSIGN_OR_RETURN(pg::TableInfo info, pg::DiscoverTable(src, table.name));
  PG2I_ASSIGN_OR_RETURN(std::vector<std::string> key_names, pg::EffectivePrimaryKey(info, table));

  // Iceberg side.
  std::map<Key, std::vector<Row>> ice;  // key → live versions
  std::vector<iceberg::Field> fields;
  auto loaded = cat.LoadTable(catalog::TableIdent{ns, table.name.table});
  if (loaded.ok()) {
    fields = loaded->metadata.CurrentSchema()->fields();
  } else if (!IsNotFound(loaded.status())) {
    return loaded.status();
  }
  std::vector<int> key_idx;
  for (const auto& k : key_names) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == k) key_idx.push_back(static_cast<int>(i));
    }
  }
  if (loaded.ok() && key_idx.size() != key_names.size()) {
    return FailedPrecondition("the Iceberg table of " + d.table +
                              " lacks a primary-key column; was it created by pg2iceberg?");
  }
  if (loaded.ok()) {
    PG2I_ASSIGN_OR_RETURN(auto live, iceberg::LiveEntries(io.get(), loaded->metadata));
    std::map<Key, int64_t> deleted_at;  // highest delete sequence per key
    for (const auto& e : live) {
      if (e.file.content != iceberg::FileContent::kEqualityDeletes) continue;
      std::vector<iceberg::Field> eq;
      for (int32_t id : e.file.equality_ids) {
        for (const auto& f : fields) {
          if (f.id == id) eq.push_back(f);
        }
      }
      PG2I_ASSIGN_OR_RETURN(auto reader, iceberg::DataFileReader::Open(io, e.file.file_path, eq));
      PG2I_ASSIGN_OR_RETURN(auto rows, reader->ReadAllRows());
      for (auto& r : rows) {
        int64_t& s = deleted_at[r];
        s = std::max(s, e.sequence_number.value_or(0));
      }
    }
    for (const auto& e : live) {
      if (e.file.content == iceberg::FileContent::kPositionDeletes) {
        return Unimplemented("table " + d.table + " has position deletes, which verify does not read yet");
      }
      if (e.file.content != iceberg::FileContent::kData) continue;
      PG2I_ASSIGN_OR_RETURN(auto reader, iceberg::DataFileReader::Open(io, e.file.file_path, fields));
      PG2I_ASSIGN_OR_RETURN(auto rows, reader->ReadAllRows());
      const int64_t seq = e.sequence_number.value_or(0);
      for (auto& r : rows) {
        Key k;
        for (int i : key_idx) k.push_back(r[static_cast<size_t>(i)]);
        auto del = deleted_at.find(k);
        if (del != deleted_at.end() && del->second > seq) continue;
        ice[k].push_back(std::move(r));
      }
    }
  }

  // PostgreSQL side, in one REPEATABLE READ snapshot, in batches.
  std::string cols;
  for (const auto& c : info.columns) cols += (cols.empty() ? "" : ", ") + pg::QuoteIdent(c.name);
  PG2I_RETURN_IF_ERROR(src.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  PG2I_RETURN_IF_ERROR(src.Exec("DECLARE pg2i_verify NO SCROLL CURSOR FOR SELECT " + cols +
                                " FROM " + table.name.Quoted()));
  std::map<Key, bool> seen;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(pg::QueryResult batch, src.Query("FETCH 10000 FROM pg2i_verify"));
    if (batch.rows.empty()) break;
    for (const auto& prow : batch.rows) {
      ++d.pg_rows;
      // In Iceberg column order (columns PostgreSQL no longer has stay NULL).
      Row row(fields.empty() ? info.columns.size() : fields.size());
      Key key;
      for (size_t c = 0; c < info.columns.size(); ++c) {
        const auto& col = info.columns[c];
        Value v;
        if (prow[c]) {
          Type t = pg::MapType(col.base_type_oid, col.typmod).type;
          PG2I_ASSIGN_OR_RETURN(v, pg::ParseText(t, col.base_type_oid, *prow[c]));
        }
        if (fields.empty()) {
          row[c] = v;
          continue;
        }
        for (size_t i = 0; i < fields.size(); ++i) {
          if (fields[i].name == col.name && fields[i].type.is_primitive()) {
            row[i] = WidenValue(v, fields[i].type.primitive);
          }
        }
      }
      if (fields.empty()) {
        ++d.missing;
        if (static_cast<int>(d.samples.size()) < max_samples) d.samples.push_back("missing " + Show(row));
        continue;
      }
      for (int i : key_idx) key.push_back(row[static_cast<size_t>(i)]);
      seen[key] = true;
      auto it = ice.find(key);
      if (it == ice.end()) {
        ++d.missing;
        if (static_cast<int>(d.samples.size()) < max_samples) d.samples.push_back("missing " + Show(row));
        continue;
      }
      if (it->second.size() > 1) ++d.duplicates;
      if (it->second.front() != row) {
        ++d.different;
        if (static_cast<int>(d.samples.size()) < max_samples) {
          d.samples.push_back("different " + Show(row) + " vs iceberg " + Show(it->second.front()));
        }
      }
    }
  }
  PG2I_RETURN_IF_ERROR(src.Exec("COMMIT"));
  for (const auto& [k, versions] : ice) {
    d.iceberg_rows += static_cast<int64_t>(versions.size());
    if (!seen.count(k)) {
      ++d.extra;
      if (static_cast<int>(d.samples.size()) < max_samples) d.samples.push_back("extra " + Show(versions.front()));
    }
  }
  return d;
}

}  // namespace pg2iceberg::cli

// `verify`: PostgreSQL (one REPEATABLE READ snapshot) against Iceberg, by primary key.
//
// PostgreSQL rows go through the same type mapping as replication (pg/values.h), widened to
// the Iceberg column types. Iceberg rows are the live rows of the current snapshot: a data row
// is gone when an equality delete on its key has a higher data sequence number. Reports per
// table the rows missing from Iceberg, extra in Iceberg, different, and keys live twice.
#include "cli/verify.h"

#include <algorithm>

#include <cmath>
#include <cstdio>
#include <map>

#include "base/log.h"
#include "cli/backends.h"
#include "catalog/rest_catalog.h"
#include "catalog/sql_catalog.h"
#include "iceberg/parquet_io.h"
#include "iceberg/table_scan.h"
#include "io/arrow_file_io.h"
#include "materialize/columns.h"
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

std::string ShowKey(const std::vector<std::string>& names, const Key& k) {
  std::string s;
  for (size_t i = 0; i < k.size() && i < names.size(); ++i) {
    s += (i ? ", " : "") + names[i] + "=" + DebugString(k[i]);
  }
  return s;
}

}  // namespace

bool SameValue(const Value& a, const Value& b) {
  // NaN is a value like any other in PostgreSQL (NaN = NaN there), and so here.
  if (const double* x = std::get_if<double>(&a)) {
    const double* y = std::get_if<double>(&b);
    if (y && std::isnan(*x) && std::isnan(*y)) return true;
  }
  if (const float* x = std::get_if<float>(&a)) {
    const float* y = std::get_if<float>(&b);
    if (y && std::isnan(*x) && std::isnan(*y)) return true;
  }
  return a == b;
}

std::vector<size_t> DifferingColumns(const std::vector<Value>& a, const std::vector<Value>& b) {
  std::vector<size_t> out;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i >= a.size() || i >= b.size() || !SameValue(a[i], b[i])) out.push_back(i);
  }
  return out;
}

// A value for a difference line: a long one is cut, with its length (a TOASTed text of
// megabytes would bury the report).
std::string Shown(const std::vector<Value>& row, size_t i) {
  if (i >= row.size()) return "-";
  std::string s = DebugString(row[i]);
  constexpr size_t kMax = 80;
  if (s.size() > kMax) {
    const size_t n = s.size();
    s.resize(kMax - 20);
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
    if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
    s += "…(" + std::to_string(n) + " bytes)";
  }
  return s;
}

std::string DescribeDifference(const std::vector<std::string>& names, const std::vector<Value>& pg,
                               const std::vector<Value>& ice) {
  std::string s;
  for (size_t i : DifferingColumns(pg, ice)) {
    const std::string name = i < names.size() ? names[i] : "#" + std::to_string(i);
    s += (s.empty() ? "" : "; ") + name + ": postgres " + Shown(pg, i) + " vs iceberg " +
         Shown(ice, i);
  }
  return s;
}

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
  const config::IcebergTableName target =
      config::IcebergNameOf(table, ns.empty() ? "default" : ns.front());
  auto loaded = cat.LoadTable(catalog::TableIdent{{target.ns}, target.name});
  if (loaded.ok()) {
    fields = loaded->metadata.CurrentSchema()->fields();
  } else if (!IsNotFound(loaded.status())) {
    return loaded.status();
  }
  std::vector<std::string> names;  // column names in Iceberg order
  for (const auto& f : fields) names.push_back(f.name);
  std::vector<int> key_idx;
  for (const auto& k : key_names) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == config::IcebergColumnName(table, k)) {
        key_idx.push_back(static_cast<int>(i));
      }
    }
  }
  if (loaded.ok() && key_idx.size() != key_names.size()) {
    return FailedPrecondition("the Iceberg table of " + d.table +
                              " lacks a primary-key column; was it created by pg2iceberg?");
  }
  // sink.include_metadata's columns (_commit_ts, _lsn) are not the source's: not compared.
  std::vector<size_t> metadata_idx;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name != materialize::kCommitTsColumn &&
        fields[i].name != materialize::kLsnColumn) {
      continue;
    }
    const bool in_source =
        std::any_of(info.columns.begin(), info.columns.end(), [&](const auto& c) {
          return config::IcebergColumnName(table, c.name) == fields[i].name;
        });
    if (!in_source) metadata_idx.push_back(i);
  }
  if (loaded.ok()) {
    // Merge-on-read: equality and position deletes applied as every engine applies them.
    PG2I_ASSIGN_OR_RETURN(iceberg::TableScan scan, iceberg::TableScan::Plan(io, loaded->metadata));
    for (const iceberg::FileScanTask& task : scan.tasks()) {
      PG2I_ASSIGN_OR_RETURN(auto rows, scan.Read(task, fields));
      for (auto& r : rows) {
        for (size_t i : metadata_idx) r[i] = Value{};
        Key k;
        for (int i : key_idx) k.push_back(r[static_cast<size_t>(i)]);
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
          if ((fields[i].name == config::IcebergColumnName(table, col.name)) &&
              fields[i].type.is_primitive()) {
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
      if (seen.count(key)) {
        // The configured key (tables[].primary_key) is not unique in PostgreSQL: Iceberg keeps
        // one row per key, so such rows cannot all be there.
        ++d.duplicates;
        if (static_cast<int>(d.samples.size()) < max_samples) {
          d.samples.push_back("duplicate key in PostgreSQL " + ShowKey(key_names, key) +
                              ": tables[].primary_key must be unique");
        }
        continue;
      }
      seen[key] = true;
      auto it = ice.find(key);
      if (it == ice.end()) {
        ++d.missing;
        if (static_cast<int>(d.samples.size()) < max_samples) d.samples.push_back("missing " + Show(row));
        continue;
      }
      if (it->second.size() > 1) ++d.duplicates;
      if (!DifferingColumns(row, it->second.front()).empty()) {
        ++d.different;
        if (static_cast<int>(d.samples.size()) < max_samples) {
          d.samples.push_back("different " + ShowKey(key_names, key) + ": " +
                              DescribeDifference(names, row, it->second.front()));
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

namespace {

// Changes of a table the configuration does not bring to Iceberg.
struct Unreplicated {
  bool inserts = false, updates = false, deletes = false;
  std::string deletes_why;
};

Unreplicated UnreplicatedOf(const config::Config& cfg, const config::TableConfig& t) {
  Unreplicated u;
  auto left_out = [&](const char* op) {
    return !t.capture_operations.empty() &&
           std::find(t.capture_operations.begin(), t.capture_operations.end(), op) ==
               t.capture_operations.end();
  };
  u.inserts = left_out("insert");
  u.updates = left_out("update");
  if (cfg.source.mode == config::SourceMode::kQuery) {
    u.deletes = true;
    u.deletes_why = "query mode cannot see deletes";
  } else if (left_out("delete") || left_out("truncate")) {
    u.deletes = true;
    u.deletes_why = "deletes or truncations are not captured";
  }
  return u;
}

}  // namespace

int RunVerify(const config::Config& cfg, const VerifyOptions& options) {
  auto selected = SelectTables(cfg, options.tables);
  if (!selected.ok()) {
    std::fprintf(stderr, "error: %s\n", selected.status().message().c_str());
    return 2;
  }
  const std::vector<const config::TableConfig*> tables = std::move(*selected);
  if (options.samples < 0) {
    std::fprintf(stderr, "error: --sample must be 0 or more\n");
    return 2;
  }
  auto run = [&]() -> Result<bool> {
    PG2I_ASSIGN_OR_RETURN(auto src, ConnectSource(cfg));
    PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
    PG2I_ASSIGN_OR_RETURN(auto cat, OpenCatalog(cfg, io));
    bool clean = true;
    for (const config::TableConfig* t : tables) {
      if (!t->keeps_mirror()) {
        std::printf("table=%s history only (iceberg.mode history): no mirror to compare\n",
                    t->name.ToString().c_str());
        continue;
      }
      PG2I_ASSIGN_OR_RETURN(TableDiff d, VerifyTable(*src, *t, *cat, io, {cfg.sink.ns},
                                                     options.samples));
      // What the configuration does not replicate is reported, not counted against the table.
      const Unreplicated u = UnreplicatedOf(cfg, *t);
      const bool ok = d.missing * !u.inserts == 0 && d.extra * !u.deletes == 0 &&
                      d.different * !u.updates == 0 && d.duplicates == 0;
      std::string why;
      if (u.deletes && d.extra > 0) why += "; extra rows: " + u.deletes_why;
      if (u.updates && d.different > 0) why += "; different rows: updates are not captured";
      if (u.inserts && d.missing > 0) why += "; missing rows: inserts are not captured";
      std::printf("table=%s pg_rows=%lld iceberg_rows=%lld missing=%lld extra=%lld "
                  "different=%lld duplicates=%lld %s%s\n",
                  d.table.c_str(), static_cast<long long>(d.pg_rows),
                  static_cast<long long>(d.iceberg_rows), static_cast<long long>(d.missing),
                  static_cast<long long>(d.extra), static_cast<long long>(d.different),
                  static_cast<long long>(d.duplicates), ok ? "OK" : "DIFF",
                  why.empty() ? "" : (" (expected" + why + ")").c_str());
      for (const auto& s : d.samples) std::printf("  %s\n", s.c_str());
      clean = clean && ok;
    }
    return clean;
  };
  auto r = run();
  if (!r.ok()) {
    std::fprintf(stderr, "error: %s\n", r.status().message().c_str());
    return 1;
  }
  if (!*r) {
    std::fprintf(stderr, "error: PostgreSQL and Iceberg differ (see above)\n");
    return 1;
  }
  return 0;
}

}  // namespace pg2iceberg::cli

// `verify`: PostgreSQL against Iceberg by primary key (see verify.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "config/config.h"
#include "io/file_io.h"
#include "pg/connection.h"
#include "types/value.h"

namespace pg2iceberg::cli {

struct TableDiff {
  std::string table;
  int64_t pg_rows = 0;
  int64_t iceberg_rows = 0;
  int64_t missing = 0;     // in PostgreSQL, not in Iceberg
  int64_t extra = 0;       // in Iceberg, not in PostgreSQL
  int64_t different = 0;   // same key, other values
  int64_t duplicates = 0;  // keys live more than once in Iceberg, or in PostgreSQL
  std::vector<std::string> samples;
  bool clean() const { return missing == 0 && extra == 0 && different == 0 && duplicates == 0; }
};

Result<TableDiff> VerifyTable(pg::Connection& src, const config::TableConfig& table,
                              catalog::Catalog& cat, std::shared_ptr<io::FileIO> io,
                              const std::vector<std::string>& ns, int max_samples = 5);

// NaN equals NaN (as in PostgreSQL); otherwise the values' ==.
bool SameValue(const Value& a, const Value& b);
// Indexes of the columns where `a` and `b` differ (by SameValue).
std::vector<size_t> DifferingColumns(const std::vector<Value>& a, const std::vector<Value>& b);
// "v: postgres "a" vs iceberg "b"; d: …" for the differing columns, named by `names`.
std::string DescribeDifference(const std::vector<std::string>& names, const std::vector<Value>& pg,
                               const std::vector<Value>& ice);

struct VerifyOptions {
  std::vector<std::string> tables;  // empty: every configured table
  int samples = 5;                  // sample rows printed per table
};
int RunVerify(const config::Config& cfg, const VerifyOptions& options);

}  // namespace pg2iceberg::cli

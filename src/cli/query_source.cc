#include "cli/query_source.h"

#include "base/log.h"
#include "cli/backends.h"
#include "cli/pg_source_catalog.h"
#include "pg/catalog.h"
#include "pipeline/startup.h"

namespace pg2iceberg::cli {
namespace {

// The polling of configured table `t` described as `rel`.
Result<query::PolledTable> Describe(const config::TableConfig& t, stage::StagedRelation rel,
                                    pg::Connection& conn) {
  const std::string name = t.name.ToString();
  query::PolledTable pt;
  pt.name = name;
  pt.quoted = pg::QuoteIdent(t.name.schema) + "." + pg::QuoteIdent(t.name.table);
  if (rel.key.empty()) {
    return InvalidArgument(name + " has no primary key, which query mode needs to upsert "
                           "rows; add one or set tables[].primary_key");
  }
  std::string names;
  for (size_t i = 0; i < rel.columns.size(); ++i) {
    const stage::StagedColumn& c = rel.columns[i];
    names += (names.empty() ? "" : ", ") + c.name;
    if (c.name == t.watermark_column) pt.watermark = static_cast<int>(i);
    PG2I_ASSIGN_OR_RETURN(pg::QueryResult type,
                          conn.Query("SELECT format_type($1::oid, $2::int)",
                                     {std::to_string(c.type_oid), std::to_string(c.typmod)}));
    pt.sql_types.push_back(type.rows[0][0].value_or("text"));
  }
  if (pt.watermark < 0) {
    return InvalidArgument("tables[].watermark_column: " + name + " has no column \"" +
                           t.watermark_column + "\" (its columns: " + names + ")");
  }
  const stage::StagedColumn& w = rel.columns[static_cast<size_t>(pt.watermark)];
  if (!query::WatermarkTypeSupported(w.type_oid)) {
    return InvalidArgument(
        "tables[].watermark_column: " + name + "." + w.name + " is " +
        pt.sql_types[static_cast<size_t>(pt.watermark)] +
        ", which cannot order changes; query mode needs smallint, integer, bigint, numeric, "
        "date, timestamp or timestamp with time zone (for example an updated_at timestamptz "
        "column kept by a trigger)");
  }
  if (w.nullable) {
    log::Warn("the watermark column may be NULL: such rows are not polled until it is set",
              {{"table", name}, {"column", w.name}});
  }
  pt.relation = std::move(rel);
  return pt;
}

}  // namespace

Result<std::vector<query::QueryTable>> PrepareQueryTables(const config::Config& cfg,
                                                          coord::Coordinator& coord,
                                                          pg::Connection& conn) {
  const auto& q = cfg.source.query;
  std::vector<query::QueryTable> out;
  for (const auto& t : cfg.tables) {
    const std::string name = t.name.ToString();
    // The shape before and after the description: equal, the description is of that shape.
    std::string shape;
    Result<pg::TableInfo> info = NotFound("");
    Result<stage::StagedRelation> rel = NotFound("");
    for (int attempt = 0;; ++attempt) {
      PG2I_ASSIGN_OR_RETURN(shape, query::TableShape(conn, t.name.schema, t.name.table));
      info = pg::DiscoverTable(conn, t.name);
      if (!info.ok()) return InvalidArgument(info.status().message());
      rel = DiscoverStaged(conn, t);
      if (!rel.ok()) return InvalidArgument(rel.status().message());
      PG2I_ASSIGN_OR_RETURN(std::string after, query::TableShape(conn, t.name.schema, t.name.table));
      if (after == shape) break;
      if (attempt == 5) return Unavailable(name + " keeps changing shape while it is described");
    }
    std::vector<std::string> names;
    for (const auto& c : rel->columns) names.push_back(c.name);
    PG2I_RETURN_IF_ERROR(config::CheckColumnNames(t, names));
    PG2I_RETURN_IF_ERROR(pipeline::TrackTable(coord, t, info->oid));
    query::QueryTable qt;
    PG2I_ASSIGN_OR_RETURN(qt.table, Describe(t, std::move(*rel), conn));
    qt.table.shape = shape;
    qt.table.schema = t.name.schema;
    qt.table.table = t.name.table;
    query::PollerOptions& o = qt.options;
    o.staging_uri = StagingUri(cfg);
    o.batch_size = t.batch_size.value_or(q.batch_size);
    o.poll_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
        t.poll_interval.value_or(q.poll_interval));
    o.lookback =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.lookback.value_or(q.lookback));
    o.custom_query = t.custom_query;
    o.initial_offset = t.initial_offset;
    PG2I_ASSIGN_OR_RETURN(auto st, coord.GetTable(name));
    const bool complete = st && st->snapshot_complete;
    // A custom query decides which rows there are: it is polled from its start, not copied.
    if (!complete && (t.skip_snapshot || !t.initial_offset.empty() || !t.custom_query.empty())) {
      PG2I_RETURN_IF_ERROR(coord.CompleteSnapshot(name, Lsn()));
    } else {
      qt.copy = !complete;
    }
    out.push_back(std::move(qt));
  }
  return out;
}

}  // namespace pg2iceberg::cli

#include "pg/catalog.h"

#include <algorithm>
#include <map>
#include <set>

#include "base/log.h"
#include "base/metrics.h"

namespace pg2iceberg::pg {

std::string QuoteIdent(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteLiteral(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

Result<TableInfo> DiscoverTable(Connection& conn, const config::TableName& name) {
  PG2I_ASSIGN_OR_RETURN(
      QueryResult rel,
      conn.Query("SELECT c.oid, c.relkind, c.relreplident, c.relispartition "
                 "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = $1 AND c.relname = $2",
                 {name.schema, name.table}));
  if (rel.rows.empty()) {
    return NotFound("table " + name.ToString() +
                    " does not exist; check tables[].name (names are matched exactly, "
                    "including case: quote them as in SQL, e.g. \"Sales\".\"Orders\")");
  }
  TableInfo t;
  t.name = name;
  t.oid = static_cast<uint32_t>(std::stoul(*rel.rows[0][0]));
  t.relkind = (*rel.rows[0][1])[0];
  t.replica_identity = (*rel.rows[0][2])[0];
  t.is_partition = *rel.rows[0][3] == "t";
  if (t.relkind != 'r' && t.relkind != 'p') {
    const char* what = t.relkind == 'v'   ? "a view"
                       : t.relkind == 'm' ? "a materialized view"
                       : t.relkind == 'f' ? "a foreign table"
                                          : "not a table";
    return FailedPrecondition(name.ToString() + " is " + what +
                              ", which logical replication cannot publish; list base tables "
                              "in tables[]");
  }
  const std::string oid = std::to_string(t.oid);
  // Domains resolve to their base type (recursively); generated columns are skipped, as
  // pgoutput does not send them.
  PG2I_ASSIGN_OR_RETURN(
      QueryResult cols,
      conn.Query(R"sql(
        WITH RECURSIVE base(col, oid, typmod, depth) AS (
          SELECT a.attnum, a.atttypid, a.atttypmod, 0
            FROM pg_attribute a WHERE a.attrelid = $1::oid AND a.attnum > 0
          UNION ALL
          SELECT b.col, t.typbasetype, t.typtypmod, b.depth + 1
            FROM base b JOIN pg_type t ON t.oid = b.oid
           WHERE t.typtype = 'd' AND b.depth < 32)
        SELECT a.attname, a.attnum, a.atttypid,
               (SELECT oid FROM base b WHERE b.col = a.attnum ORDER BY depth DESC LIMIT 1),
               (SELECT typmod FROM base b WHERE b.col = a.attnum ORDER BY depth DESC LIMIT 1),
               format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
          FROM pg_attribute a
         WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attgenerated = ''
         ORDER BY a.attnum)sql",
                 {oid}));
  for (const auto& r : cols.rows) {
    ColumnInfo c;
    c.name = *r[0];
    c.attnum = std::stoi(*r[1]);
    c.type_oid = static_cast<uint32_t>(std::stoul(*r[2]));
    c.base_type_oid = static_cast<uint32_t>(std::stoul(*r[3]));
    c.typmod = std::stoi(*r[4]);
    c.type_name = *r[5];
    c.nullable = *r[6] == "t";
    t.columns.push_back(std::move(c));
  }
  auto index_columns = [&](const char* flag) -> Result<std::vector<std::string>> {
    PG2I_ASSIGN_OR_RETURN(
        QueryResult k,
        conn.Query(std::string("SELECT a.attname FROM pg_index i "
                               "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
                               "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                               "WHERE i.indrelid = $1::oid AND i.") +
                       flag + " ORDER BY k.ord",
                   {oid}));
    std::vector<std::string> out;
    for (const auto& r : k.rows) out.push_back(*r[0]);
    return out;
  };
  PG2I_ASSIGN_OR_RETURN(t.primary_key, index_columns("indisprimary"));
  if (t.replica_identity == 'i') {
    PG2I_ASSIGN_OR_RETURN(t.replica_identity_columns, index_columns("indisreplident"));
  }
  return t;
}

Result<std::vector<std::string>> EffectivePrimaryKey(const TableInfo& table,
                                                     const config::TableConfig& configured) {
  // Once a table is in a publication, PostgreSQL refuses UPDATE and DELETE on it unless it has
  // a replica identity: publishing such a table would break the application's own writes.
  const bool no_identity = table.replica_identity == 'n' ||
                           (table.replica_identity == 'd' && table.primary_key.empty());
  if (no_identity && (!configured.primary_key.empty() || table.replica_identity == 'n')) {
    return FailedPrecondition(
        "table " + table.name.ToString() + " has replica identity " +
        (table.replica_identity == 'n' ? "NOTHING" : "DEFAULT without a primary key") +
        ": once it is in a publication, UPDATE and DELETE on it fail in your application "
        "(\"cannot update table … because it does not have a replica identity\"), so "
        "pg2iceberg does not publish it. Give it one first: ALTER TABLE " + table.name.Quoted() +
        " REPLICA IDENTITY FULL; (or REPLICA IDENTITY USING INDEX on a unique index over NOT "
        "NULL columns, or add a primary key)");
  }
  if (!configured.primary_key.empty()) {
    for (const std::string& k : configured.primary_key) {
      bool found = std::any_of(table.columns.begin(), table.columns.end(),
                               [&](const ColumnInfo& c) { return c.name == k; });
      if (!found) {
        return FailedPrecondition("tables[].primary_key of " + table.name.ToString() +
                                  " names column \"" + k + "\", which the table does not have");
      }
    }
    return configured.primary_key;
  }
  if (table.primary_key.empty()) {
    return FailedPrecondition("table " + table.name.ToString() +
                              " has no primary key; add one (ALTER TABLE " +
                              table.name.Quoted() + " ADD PRIMARY KEY (…)) or set "
                              "tables[].primary_key in the configuration");
  }
  return table.primary_key;
}

std::string DdlTriggerName(const std::string& schema) {
  return ("pg2iceberg_columns_" + schema).substr(0, 63);
}

std::string RewriteTriggerName(const std::string& schema) {
  return ("pg2iceberg_rewrite_" + schema).substr(0, 63);
}

Result<DdlTrigger> EnsureDdlTrigger(Connection& conn, const std::string& schema) {
  const std::string name = DdlTriggerName(schema);
  const std::string rewrite = RewriteTriggerName(schema);
  // (Results compared in place: GCC 12 at -O2 warns, wrongly, of a moved-out string.)
  auto present = [&](const std::string& trigger) -> Result<bool> {
    const Result<std::string> n = conn.QueryScalar(
        "SELECT count(*) FROM pg_event_trigger WHERE evtname = " + QuoteLiteral(trigger));
    if (!n.ok()) return n.status();
    return *n != "0";
  };
  PG2I_ASSIGN_OR_RETURN(bool columns_present, present(name));
  PG2I_ASSIGN_OR_RETURN(bool rewrite_present, present(rewrite));
  const Result<std::string> super =
      conn.QueryScalar("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user");
  if (!super.ok()) return super.status();
  if (*super != "true") return columns_present ? DdlTrigger::kPresent : DdlTrigger::kNotPermitted;
  const std::string fn = QuoteIdent(schema) + ".pg2iceberg_columns()";
  const std::string rewrite_fn = QuoteIdent(schema) + ".pg2iceberg_rewrite()";
  PG2I_RETURN_IF_ERROR(conn.Exec("CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(schema)));
  // After ALTER TABLE: the column map, and the columns this statement added with a default
  // that existing rows take without a rewrite (atthasmissing: a constant default, or a
  // domain's). A column is this statement's when its pg_attribute row was written by the
  // (sub)transaction that also wrote the table's pg_class row (ADD COLUMN bumps relnatts), that
  // one is of this transaction (age() <= 0: this transaction's xid or a later subtransaction's)
  // and the column's default, if any, was written by it too; for a partitioned table, by any
  // table of the tree.
  // The message is emitted outside the EXCEPTION block: a message emitted inside a
  // subtransaction is decoded after the transaction's later changes (PostgreSQL 15), which would
  // put a column map behind the rows it describes.
  PG2I_RETURN_IF_ERROR(conn.Exec("CREATE OR REPLACE FUNCTION " + fn + R"sql( RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
    DECLARE msgs text[];
            m text;
    BEGIN
      BEGIN
        SELECT array_agg(
          json_build_object('schema', n.nspname, 'table', c.relname, 'oid', c.oid::bigint,
            'columns',
            (SELECT coalesce(json_agg(json_build_array(a.attnum, a.attname) ORDER BY a.attnum),
                             '[]'::json)
               FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND a.attgenerated = ''),
            'defaulted',
            (SELECT coalesce(json_agg(DISTINCT a.attname), '[]'::json)
               FROM (SELECT relid FROM pg_partition_tree(c.oid) UNION SELECT c.oid) t
               JOIN pg_class tc ON tc.oid = t.relid
               JOIN pg_attribute a ON a.attrelid = tc.oid
              WHERE a.attnum > 0 AND NOT a.attisdropped AND a.atthasmissing
                AND a.xmin = tc.xmin AND age(tc.xmin) <= 0
                AND NOT EXISTS (SELECT 1 FROM pg_attrdef ad
                                 WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                   AND NOT ad.xmin = tc.xmin)))::text)
          INTO msgs
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p')
           AND c.oid IN (SELECT d.objid FROM pg_event_trigger_ddl_commands() d
                          WHERE d.classid = 'pg_class'::regclass);
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg2iceberg: column map not emitted: %', SQLERRM;
        RETURN;
      END;
      FOREACH m IN ARRAY coalesce(msgs, '{}') LOOP
        PERFORM pg_logical_emit_message(true, 'pg2iceberg.columns', m);
      END LOOP;
    END $fn$)sql"));
  // Before ALTER TABLE rewrites a table (a volatile default, a column type change, SET
  // LOGGED/UNLOGGED, …): logical replication carries none of the rows it rewrites. The
  // message names the table the publication publishes (a partition's root).
  PG2I_RETURN_IF_ERROR(conn.Exec("CREATE OR REPLACE FUNCTION " + rewrite_fn +
                                 R"sql( RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
    DECLARE m text;
    BEGIN
      BEGIN
        SELECT json_build_object('schema', n.nspname, 'table', c.relname, 'oid', c.oid::bigint,
                                 'reason', pg_event_trigger_table_rewrite_reason())::text
          INTO m
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = coalesce(pg_partition_root(pg_event_trigger_table_rewrite_oid()),
                                pg_event_trigger_table_rewrite_oid());
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg2iceberg: table rewrite not reported: %', SQLERRM;
        RETURN;
      END;
      IF m IS NOT NULL THEN
        PERFORM pg_logical_emit_message(true, 'pg2iceberg.rewrite', m);
      END IF;
    END $fn$)sql"));
  // The functions are replaced at every start (they may come from an older version); the
  // triggers are created once.
  if (!rewrite_present) {
    PG2I_RETURN_IF_ERROR(conn.Exec("CREATE EVENT TRIGGER " + QuoteIdent(rewrite) +
                                   " ON table_rewrite EXECUTE FUNCTION " + rewrite_fn));
  }
  if (columns_present) return DdlTrigger::kPresent;
  PG2I_RETURN_IF_ERROR(conn.Exec("CREATE EVENT TRIGGER " + QuoteIdent(name) +
                                 " ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION " +
                                 fn));
  return DdlTrigger::kInstalled;
}

Status DropDdlTrigger(Connection& conn, const std::string& schema) {
  PG2I_RETURN_IF_ERROR(conn.Exec("DROP EVENT TRIGGER IF EXISTS " + QuoteIdent(DdlTriggerName(schema))));
  PG2I_RETURN_IF_ERROR(
      conn.Exec("DROP EVENT TRIGGER IF EXISTS " + QuoteIdent(RewriteTriggerName(schema))));
  PG2I_RETURN_IF_ERROR(
      conn.Exec("DROP FUNCTION IF EXISTS " + QuoteIdent(schema) + ".pg2iceberg_columns()"));
  PG2I_RETURN_IF_ERROR(
      conn.Exec("DROP FUNCTION IF EXISTS " + QuoteIdent(schema) + ".pg2iceberg_rewrite()"));
  (void)conn.Exec("DROP SCHEMA IF EXISTS " + QuoteIdent(schema));  // fails while not empty
  return Status::Ok();
}

Result<PublicationReport> EnsurePublication(Connection& conn, const std::string& publication,
                                            const std::vector<TableInfo>& tables) {
  PublicationReport report;
  PG2I_ASSIGN_OR_RETURN(
      QueryResult pub,
      conn.Query("SELECT puballtables, pubviaroot, pubinsert, pubupdate, pubdelete, "
                 "pubtruncate FROM pg_publication WHERE pubname = $1",
                 {publication}));
  std::string list;
  for (const TableInfo& t : tables) {
    if (!list.empty()) list += ", ";
    list += t.name.Quoted();
  }
  if (pub.rows.empty()) {
    if (tables.empty()) return report;
    PG2I_RETURN_IF_ERROR(conn.Exec("CREATE PUBLICATION " + QuoteIdent(publication) +
                                   " FOR TABLE " + list +
                                   " WITH (publish_via_partition_root = true)"));
    report.created = true;
    return report;
  }
  const auto& row = pub.rows[0];
  const bool all_tables = *row[0] == "t";
  const bool via_root = *row[1] == "t";
  std::vector<std::string> missing_ops;
  const char* ops[] = {"insert", "update", "delete", "truncate"};
  for (int i = 0; i < 4; ++i) {
    if (*row[2 + i] != "t") missing_ops.push_back(ops[i]);
  }
  if (!missing_ops.empty()) {
    std::string what;
    for (const auto& o : missing_ops) what += (what.empty() ? "" : ", ") + o;
    return FailedPrecondition("publication " + publication + " does not publish " + what +
                              ", so those changes would be lost; run ALTER PUBLICATION " +
                              QuoteIdent(publication) +
                              " SET (publish = 'insert, update, delete, truncate')");
  }
  for (const TableInfo& t : tables) {
    if (t.relkind == 'p' && !via_root) {
      return FailedPrecondition(
          "publication " + publication + " has publish_via_partition_root = false, so changes "
          "to the partitioned table " + t.name.ToString() + " would arrive per partition; run "
          "ALTER PUBLICATION " + QuoteIdent(publication) +
          " SET (publish_via_partition_root = true)");
    }
  }
  if (all_tables) return report;
  PG2I_ASSIGN_OR_RETURN(
      QueryResult members,
      conn.Query("SELECT pr.prrelid FROM pg_publication_rel pr JOIN pg_publication p "
                 "ON p.oid = pr.prpubid WHERE p.pubname = $1 "
                 "UNION SELECT c.oid FROM pg_publication_namespace pn "
                 "JOIN pg_publication p ON p.oid = pn.pnpubid "
                 "JOIN pg_class c ON c.relnamespace = pn.pnnspid WHERE p.pubname = $1",
                 {publication}));
  std::set<std::string> have;
  for (const auto& r : members.rows) have.insert(*r[0]);
  std::string add;
  for (const TableInfo& t : tables) {
    if (have.count(std::to_string(t.oid))) continue;
    if (!add.empty()) add += ", ";
    add += t.name.Quoted();
    report.added.push_back(t.name.ToString());
  }
  if (!add.empty()) {
    PG2I_RETURN_IF_ERROR(
        conn.Exec("ALTER PUBLICATION " + QuoteIdent(publication) + " ADD TABLE " + add));
  }
  return report;
}

Result<std::optional<SlotInfo>> ReadSlot(Connection& conn, const std::string& slot) {
  const bool has_conflicting = conn.ServerVersion() >= 160000;
  PG2I_ASSIGN_OR_RETURN(
      QueryResult r,
      conn.Query(std::string("SELECT slot_name, coalesce(plugin, ''), slot_type, "
                             "coalesce(database, ''), active, coalesce(restart_lsn::text, '0/0'), "
                             "coalesce(confirmed_flush_lsn::text, '0/0'), "
                             "coalesce(wal_status, ''), safe_wal_size, ") +
                     (has_conflicting ? "coalesce(conflicting, false)" : "false") +
                     " FROM pg_replication_slots WHERE slot_name = $1",
                 {slot}));
  if (r.rows.empty()) return std::optional<SlotInfo>();
  const auto& row = r.rows[0];
  SlotInfo s;
  s.name = *row[0];
  s.plugin = *row[1];
  s.slot_type = *row[2];
  s.database = *row[3];
  s.active = *row[4] == "t";
  PG2I_ASSIGN_OR_RETURN(s.restart_lsn, Lsn::Parse(*row[5]));
  PG2I_ASSIGN_OR_RETURN(s.confirmed_flush_lsn, Lsn::Parse(*row[6]));
  s.wal_status = *row[7];
  if (row[8]) s.safe_wal_size = std::stoll(*row[8]);
  s.conflicting = *row[9] == "t";
  return std::optional<SlotInfo>(std::move(s));
}

Status CheckSlotHealth(const SlotInfo& s, const std::string& database, std::string* warning) {
  const std::string drop = "drop it (pg2iceberg cleanup, or SELECT pg_drop_replication_slot('" +
                           s.name + "')) and start again, which re-snapshots every table";
  if (s.slot_type != "logical" || s.plugin != "pgoutput") {
    return FailedPrecondition("replication slot " + s.name + " is a " + s.slot_type +
                              " slot with plugin '" + s.plugin +
                              "', not a pgoutput logical slot; choose another "
                              "source.logical.slot_name or " + drop);
  }
  if (!database.empty() && s.database != database) {
    return FailedPrecondition("replication slot " + s.name + " belongs to database " +
                              s.database + ", not " + database +
                              "; choose another source.logical.slot_name");
  }
  if (s.wal_status == "lost") {
    return FailedPrecondition("replication slot " + s.name +
                              " is lost (wal_status=lost): PostgreSQL removed WAL it still "
                              "needed, so changes are missing; " + drop +
                              ", and consider raising max_slot_wal_keep_size");
  }
  if (s.conflicting) {
    return FailedPrecondition("replication slot " + s.name +
                              " was invalidated by a recovery conflict on this standby; " +
                              drop);
  }
  if (warning && s.wal_status == "unreserved") {
    *warning = "replication slot " + s.name +
               " is close to being lost (wal_status=unreserved): it holds more WAL than "
               "max_slot_wal_keep_size; pg2iceberg must catch up soon";
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::pg

#include "pipeline/resync.h"

#include "base/log.h"

namespace pg2iceberg::pipeline {

Status RedoCopy(coord::Coordinator& coord, const std::string& table,
                const coord::TableState& known, bool copy_may_run) {
  if (known.snapshot_complete) return coord.RequestResync(table).status();
  if (copy_may_run) {
    // Its copy is in progress: a chunk it registers after this would be taken for the new
    // copy's. The next start forgets that copy once it has stopped.
    return coord.SetMeta(coord::RedoCopyKey(table), "1");
  }
  // Its copy was in progress (or not started): start it over, and replace what the copy
  // already brought and the changes that waited behind it (they predate the new copy).
  return coord.RestartCopy(table).status();
}

Status ResyncRecreated(coord::Coordinator& coord, const config::TableConfig& t, uint32_t new_oid,
                       const coord::TableState& known, bool copy_may_run) {
  const std::string table = t.name.ToString();
  if (t.skip_snapshot) {
    // Declared content, never copied: nothing to copy again. Follow the new table from here.
    log::Warn("table was dropped and re-created; it has skip_snapshot, so its Iceberg content is "
              "not replaced (resync it by hand if it should be)",
              {{"table", table}});
    return coord.PutTable({table, new_oid, known.snapshot_complete, known.snapshot_lsn});
  }
  log::Warn("table was dropped and re-created: copying the new table; the copy replaces its "
            "Iceberg content",
            {{"table", table},
             {"old_oid", static_cast<int64_t>(known.relid)},
             {"new_oid", static_cast<int64_t>(new_oid)}});
  PG2I_RETURN_IF_ERROR(RedoCopy(coord, table, known, copy_may_run));
  return coord.PutTable({table, new_oid, false, known.snapshot_lsn});
}

Status ResyncRewritten(coord::Coordinator& coord, const config::TableConfig& t,
                       const std::string& why) {
  const std::string table = t.name.ToString();
  if (t.skip_snapshot) {
    log::Warn("the table's existing rows changed in a way logical replication does not carry; "
              "it has skip_snapshot, so its Iceberg rows keep their old values (resync it by "
              "hand if they should not)",
              {{"table", table}, {"what", why}});
    return Status::Ok();
  }
  PG2I_ASSIGN_OR_RETURN(auto known, coord.GetTable(table));
  if (!known) return Status::Ok();  // not tracked yet: its first copy comes
  log::Warn("the table's existing rows changed in a way logical replication does not carry: "
            "copying it again; the copy replaces its Iceberg content",
            {{"table", table}, {"what", why}});
  return RedoCopy(coord, table, *known, /*copy_may_run=*/true);
}

}  // namespace pg2iceberg::pipeline

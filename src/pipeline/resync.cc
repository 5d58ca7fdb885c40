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

Result<bool> CheckSourceTables(coord::Coordinator& coord, SourceCatalog* source,
                               const std::vector<config::TableConfig>& tables,
                               const std::function<bool(const std::string&)>& mine,
                               const std::function<bool(const std::string&)>& copying) {
  bool restart = false;
  for (const auto& t : tables) {
    const std::string name = t.name.ToString();
    if (source == nullptr || !mine(name)) continue;
    PG2I_ASSIGN_OR_RETURN(auto known, coord.GetTable(name));
    if (!known || known->relid == 0) continue;
    PG2I_ASSIGN_OR_RETURN(std::optional<uint32_t> oid, source->CurrentOid(t.name));
    if (!oid) {
      return FailedPrecondition(
          "table " + name + " was dropped or renamed while pg2iceberg was running; its Iceberg "
          "table keeps the rows it had. Remove it from tables[] (and drop its Iceberg table if "
          "nothing needs it), or create it again: the next start copies the new table");
    }
    if (*oid == known->relid) continue;
    PG2I_ASSIGN_OR_RETURN(uint32_t republished, source->Republish(t));
    PG2I_RETURN_IF_ERROR(ResyncRecreated(coord, t, republished, *known, /*copy_may_run=*/true));
    restart = restart || !t.skip_snapshot;
  }
  // A table whose copy is to be redone (pg2iceberg resync) that this attempt does not copy:
  // start again, so that the next attempt copies it while streaming.
  for (const auto& t : tables) {
    const std::string name = t.name.ToString();
    if (!mine(name) || (copying && copying(name))) continue;
    PG2I_ASSIGN_OR_RETURN(auto state, coord.GetTable(name));
    if (state && !state->snapshot_complete) {
      log::Info("resync requested: starting the pipeline again to copy the table",
                {{"table", name}});
      restart = true;
    }
  }
  return restart;
}

Status WatchSourceTables(Supervisor& sup, coord::Coordinator& coord, SourceCatalog& source,
                         const std::vector<config::TableConfig>& tables,
                         const std::function<bool(const std::string&)>& copying,
                         Clock::Duration every) {
  while (!sup.Wait(every)) {
    PG2I_ASSIGN_OR_RETURN(
        bool restart, CheckSourceTables(coord, &source, tables,
                                        [](const std::string&) { return true; }, copying));
    if (restart) {
      sup.RequestRestart();
      break;
    }
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::pipeline

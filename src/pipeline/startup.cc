#include "pipeline/startup.h"

#include "base/log.h"
#include "io/file_io.h"
#include "pg/catalog.h"
#include "pipeline/resync.h"

namespace pg2iceberg::pipeline {

Status EnsureGeneration(coord::Coordinator& coord) {
  PG2I_ASSIGN_OR_RETURN(auto generation, coord.GetMeta("generation"));
  if (generation) return Status::Ok();
  PG2I_ASSIGN_OR_RETURN(auto older, coord.GetMeta("system_identifier"));
  return coord.SetMeta("generation", older ? "legacy" : io::NewUniqueName());
}

Status CheckWarehouse(coord::Coordinator& coord, const std::string& warehouse) {
  std::string now = warehouse;
  while (now.size() > 1 && now.back() == '/') now.pop_back();
  PG2I_ASSIGN_OR_RETURN(auto recorded, coord.GetMeta("warehouse"));
  if (!recorded) return coord.SetMeta("warehouse", now);
  if (*recorded == now) return Status::Ok();
  return InvalidArgument(
      "sink.warehouse is " + now + " but this pipeline's Iceberg tables and staged files are "
      "under " + *recorded + ", the sink.warehouse it was started with; set sink.warehouse back "
      "to " + *recorded + ", or, to start over under the new warehouse, run pg2iceberg cleanup "
      "and drop the pipeline's Iceberg tables first");
}

Status TrackTable(coord::Coordinator& coord, const config::TableConfig& t, uint32_t oid) {
  const std::string table = t.name.ToString();
  PG2I_ASSIGN_OR_RETURN(auto known, coord.GetTable(table));
  // A copy to redo that was asked for while a copy of the table ran: now none runs.
  PG2I_ASSIGN_OR_RETURN(bool redo, coord::CopyToRedo(coord, table));
  if (known && redo) {
    log::Info("the table changed while it was being copied: starting the table's copy over",
              {{"table", table}});
    PG2I_RETURN_IF_ERROR(RedoCopy(coord, table, *known, /*copy_may_run=*/false));
    PG2I_RETURN_IF_ERROR(coord.SetMeta(coord::RedoCopyKey(table), ""));
    PG2I_ASSIGN_OR_RETURN(known, coord.GetTable(table));
  }
  // A table dropped and re-created under the same name is a different table.
  if (known && known->relid != 0 && known->relid != oid) {
    PG2I_RETURN_IF_ERROR(ResyncRecreated(coord, t, oid, *known, /*copy_may_run=*/false));
  }
  if (!known) {
    // Tracked anew (first start, added, or forgotten on purpose): copy from scratch.
    PG2I_RETURN_IF_ERROR(coord.ForgetSnapshotProgress(table));
    PG2I_RETURN_IF_ERROR(coord.PutTable({table, oid, false, Lsn()}));
  }
  return Status::Ok();
}

Status CheckStillPublished(coord::Coordinator& coord,
                           const std::vector<config::TableConfig>& tables,
                           const std::string& publication, const std::string& coordinator_schema,
                           const std::function<Result<bool>(const config::TableName&)>& published) {
  for (const auto& t : tables) {
    const std::string name = t.name.ToString();
    PG2I_ASSIGN_OR_RETURN(auto known, coord.GetTable(name));
    if (!known || !known->snapshot_complete) continue;
    PG2I_ASSIGN_OR_RETURN(bool in_publication, published(t.name));
    if (!in_publication) {
      return FailedPrecondition(
          "table " + name + " left publication " + publication +
          " after it was copied, so its changes since then are lost. To copy it again: drop "
          "its Iceberg table, run DELETE FROM " + pg::QuoteIdent(coordinator_schema) +
          ".tables WHERE table_name = " + pg::QuoteLiteral(name) +
          "; and start pg2iceberg (it re-adds the table to the publication and re-copies it)");
    }
  }
  return Status::Ok();
}

Status CheckSlot(const std::string& slot_name, const std::optional<Lsn>& slot_confirmed,
                 const std::optional<Lsn>& flushed) {
  if (!slot_confirmed) {
    if (!flushed) return Status::Ok();  // a new pipeline: the slot is created
    return FailedPrecondition("replication slot " + slot_name +
                              " is gone although pg2iceberg used it before, so changes may be "
                              "lost; run pg2iceberg cleanup and start again to re-snapshot");
  }
  if (flushed && *slot_confirmed > *flushed) {
    return FailedPrecondition("replication slot " + slot_name + " was advanced to " +
                              slot_confirmed->ToString() +
                              " by someone else (pg2iceberg confirmed only " +
                              flushed->ToString() +
                              "), so changes may be lost; run pg2iceberg cleanup and start "
                              "again to re-snapshot");
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::pipeline

#include "pipeline/wal_writer_service.h"

#include "base/log.h"
#include "pipeline/resync.h"

namespace pg2iceberg::pipeline {

using namespace std::chrono_literals;

stage::WalWriter::Rediscover RediscoverFrom(SourceCatalog* source,
                                            std::vector<config::TableConfig> tables) {
  return [source, tables = std::move(tables)](
             const std::string& table) -> Result<stage::StagedRelation> {
    for (const auto& t : tables) {
      if (t.name.ToString() == table) return source->Discover(t);
    }
    return NotFound("table " + table + " is not configured");
  };
}

Status RecordMarker(coord::Coordinator& coord, const std::vector<config::TableConfig>& tables,
                    const std::string& id, Lsn lsn) {
  std::vector<std::string> names;
  for (const auto& t : tables) names.push_back(t.name.ToString());
  PG2I_ASSIGN_OR_RETURN(Lsn first, coord.RecordMarker(id, lsn, names));
  if (first != lsn) {
    log::Warn("a marker with this id was recorded before; this one is ignored (give every "
              "marker a new id)",
              {{"marker", id}, {"lsn", lsn}, {"recorded_at_lsn", first}});
  } else {
    log::Info("marker recorded", {{"marker", id}, {"lsn", lsn}});
  }
  return Status::Ok();
}

WalWriterService::WalWriterService(stage::WalWriter* writer, coord::Coordinator* coord,
                                   SourceCatalog* source, std::vector<config::TableConfig> tables,
                                   std::function<void()> request_restart)
    : writer_(writer) {
  writer->set_on_marker([coord, tables](const std::string& id, Lsn lsn) {
    return RecordMarker(*coord, tables, id, lsn);
  });
  writer->set_missing_defaults(
      [source](const std::string&, uint32_t oid, const std::vector<int>& attnums) {
        return source->MissingDefaults(oid, attnums);
      });
  writer->set_await_visible([source](Xid xid) { return source->AwaitVisible(xid); });
  writer->set_on_rewrite([coord, tables, restart = std::move(request_restart)](
                             const std::string& table, const std::string& why) -> Status {
    for (const auto& t : tables) {
      if (t.name.ToString() != table) continue;
      PG2I_RETURN_IF_ERROR(ResyncRewritten(*coord, t, why));
      // Copy it in a new attempt (the materializer would ask for one too, unless a copy of
      // the table is running: that copy read the rows before they changed).
      if (!t.skip_snapshot && restart) restart();
    }
    return Status::Ok();
  });
}

Status WalWriterService::Run(const Supervisor& sup, const std::function<void()>& on_step) {
  while (!sup.stopping()) {
    PG2I_RETURN_IF_ERROR(writer_->Step(200ms));
    if (on_step) on_step();
  }
  PG2I_RETURN_IF_ERROR(writer_->Flush());
  log::Info("WAL writer stopped", {{"confirmed", writer_->confirmed()}});
  return Status::Ok();
}

}  // namespace pg2iceberg::pipeline

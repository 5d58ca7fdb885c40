// The start-up checks of `run`, `stream-only` and `snapshot` that decide from the coordinator's
// record, written against the coordinator interface (and the answers cli/ reads from
// PostgreSQL): the warehouse the pipeline started with, its generation, each configured table's
// tracking (a new table is copied, a re-created one or one whose copy must be redone starts its
// copy over), a copied table that left the publication, and the slot against what the
// coordinator confirmed. Each refusal says what to do.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/types.h"
#include "config/config.h"
#include "coord/coordinator.h"

namespace pg2iceberg::pipeline {

// The pipeline generation (coordinator meta `generation`): created with the coordinator, so new
// after every cleanup. A coordinator set up before generations existed is "legacy".
Status EnsureGeneration(coord::Coordinator& coord);

// Tables and staged files live under the warehouse the pipeline started with (recorded at the
// first start); a changed sink.warehouse would silently keep writing the old tables while the
// user looks at the new place, so it is refused (InvalidArgument).
Status CheckWarehouse(coord::Coordinator& coord, const std::string& warehouse);

// Tracks configured table `t`, whose source table has oid `oid` now: a table new to the
// coordinator is copied from scratch; a copy to redo that was asked for while a copy ran starts
// over; a table dropped and re-created under the same name is copied again (a resync).
Status TrackTable(coord::Coordinator& coord, const config::TableConfig& t, uint32_t oid);

// A copied table that is no longer in the publication missed its changes in between: re-adding
// it silently would hide that loss (FailedPrecondition, with how to copy it again).
// `published(t)`: whether the publication (which exists) has table `t`.
Status CheckStillPublished(coord::Coordinator& coord,
                           const std::vector<config::TableConfig>& tables,
                           const std::string& publication, const std::string& coordinator_schema,
                           const std::function<Result<bool>(const config::TableName&)>& published);

// The slot against what pg2iceberg confirmed (`flushed`, none before the first confirm):
// `slot_confirmed` is the slot's confirmed_flush_lsn, nullopt when the slot does not exist.
// A slot gone after use, or advanced past what pg2iceberg confirmed, may have lost changes
// (FailedPrecondition, with what to do).
Status CheckSlot(const std::string& slot_name, const std::optional<Lsn>& slot_confirmed,
                 const std::optional<Lsn>& flushed);

}  // namespace pg2iceberg::pipeline

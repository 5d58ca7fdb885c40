// When a table's copy must be redone while the pipeline runs: a table dropped and re-created
// under a configured name, or one whose existing rows changed in a way logical replication does
// not carry (a table rewrite, a column added with a default). Both are written against the
// coordinator only; the caller starts a new attempt to copy the table.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/config.h"
#include "coord/coordinator.h"
#include "pipeline/source_catalog.h"
#include "pipeline/supervisor.h"

namespace pg2iceberg::pipeline {

// Marks a table's copy to be redone: the next copy's first batch replaces the Iceberg content
// (coordinator meta resync_offset:<table>). `copy_may_run`: a copy of the table may be running
// now (the caller then starts the pipeline again).
Status RedoCopy(coord::Coordinator& coord, const std::string& table,
                const coord::TableState& known, bool copy_may_run);

// A configured table dropped and re-created under the same name is a different table: its copy
// is redone (a resync) and replaces the Iceberg table's content. Records the new oid last, so
// that after a failure in between the next check does it again. A table with skip_snapshot only
// follows the new oid.
Status ResyncRecreated(coord::Coordinator& coord, const config::TableConfig& t, uint32_t new_oid,
                       const coord::TableState& known, bool copy_may_run);

// A configured table whose existing rows changed in a way logical replication does not carry:
// its copy is redone and replaces the Iceberg content (a table with skip_snapshot keeps its
// rows, with a warning). Called by the WAL writer when the transaction commits, before anything
// after it is confirmed.
Status ResyncRewritten(coord::Coordinator& coord, const config::TableConfig& t,
                       const std::string& why);

// The checks of the configured tables that `mine` names, made by whoever owns the slot
// (`run`'s materializer each cycle, `stream-only`'s table watch). Against the source (when
// there is one): a table dropped or renamed fails with what to do; one dropped and re-created
// is added to the publication and its copy redone (ResyncRecreated). And a table whose copy is
// to be redone (`pg2iceberg resync`) that `copying` says this attempt does not copy. True:
// start a new attempt, which copies them.
Result<bool> CheckSourceTables(coord::Coordinator& coord, SourceCatalog* source,
                               const std::vector<config::TableConfig>& tables,
                               const std::function<bool(const std::string&)>& mine,
                               const std::function<bool(const std::string&)>& copying);

// `stream-only`'s table watch (`run` checks in its materializer cycles, and materializer-only
// workers leave the checks to the slot's owner): CheckSourceTables on every configured table
// every `every` until the attempt stops; asks for a new attempt when it says so.
Status WatchSourceTables(Supervisor& sup, coord::Coordinator& coord, SourceCatalog& source,
                         const std::vector<config::TableConfig>& tables,
                         const std::function<bool(const std::string&)>& copying,
                         Clock::Duration every);

}  // namespace pg2iceberg::pipeline

// When a table's copy must be redone while the pipeline runs: a table dropped and re-created
// under a configured name, or one whose existing rows changed in a way logical replication does
// not carry (a table rewrite, a column added with a default). Both are written against the
// coordinator only; the caller starts a new attempt to copy the table.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "config/config.h"
#include "coord/coordinator.h"

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

}  // namespace pg2iceberg::pipeline

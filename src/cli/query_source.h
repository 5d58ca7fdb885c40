// Query mode's start (source.mode query): checks each configured table for polling and says
// what the pollers need (query/query_service.h). No publication, slot or REPLICATION role.
#pragma once

#include <vector>

#include "base/status.h"
#include "config/config.h"
#include "coord/coordinator.h"
#include "pg/connection.h"
#include "query/query_service.h"

namespace pg2iceberg::cli {

// Tracks the tables in the coordinator and describes them for polling: a watermark column
// that is missing or of a type that cannot order rows, or a table without a primary key, is
// refused (InvalidArgument saying what to do). A table that needs no copy (skip_snapshot,
// initial_offset, custom_query) is marked copied.
Result<std::vector<query::QueryTable>> PrepareQueryTables(const config::Config& cfg,
                                                          coord::Coordinator& coord,
                                                          pg::Connection& conn);

}  // namespace pg2iceberg::cli

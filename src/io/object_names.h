// The names of the objects pg2iceberg stages, built and read back in one place.
//
//   <staging>/<table>/<uuid>.parquet            changes of committed transactions (WAL writer)
//   <staging>/<table>/snapshot-<uuid>.parquet   rows of a table's copy (snapshotter)
//   <staging>/<table>/stream-<uuid>.parquet     a streamed transaction's spilled changes
//
// <table> is io::PathSegment of the configured name. What a registered file holds is recorded
// with its log entry (coord::FileKind); StagedKindOfName is for what the log cannot say: files
// registered by versions that did not record it, and objects no log names (orphans, a copy's
// files before its chunk is registered).
#pragma once

#include <string>
#include <string_view>

namespace pg2iceberg::io {

enum class StagedKind { kChanges, kSnapshot, kSpill };

// "<staging>/<table>/" (a trailing slash of `staging` is ignored).
std::string StagedTablePrefix(std::string_view staging, std::string_view table);
// A new, unique object name of `kind` for `table`.
std::string NewStagedUri(std::string_view staging, std::string_view table, StagedKind kind);
// The kind a staged object's name says.
StagedKind StagedKindOfName(std::string_view uri);

}  // namespace pg2iceberg::io

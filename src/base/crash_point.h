// Named crash points of the durability protocol, for crash tests: when the environment
// variable PG2I_CRASH_AT names a point (e.g. "after_offset_claim"), the process kills itself
// with SIGKILL the moment it reaches it — no flush, no destructor, exactly like a power cut.
// PG2I_CRASH_AT may name several points separated by commas; PG2I_CRASH_SKIP=N lets the first
// N hits pass. Costs one atomic load when unset.
#pragma once

#include <string_view>

namespace pg2iceberg {

// The points: after_staging_upload, after_offset_claim, after_flushed_lsn, after_standby_ack,
// after_iceberg_commit, after_cursor_advance, after_rewrite_reported; compaction's
// after_compaction_write (new files written, not committed) and after_compaction_commit;
// markers' after_marker_recorded (pending in the coordinator, its transaction not confirmed),
// before_marker_emitted (the commit that ends at it landed) and after_marker_emitted; history
// tables' after_history_commit (the history table committed, the mirror not yet).
void CrashPoint(std::string_view name);

// The deterministic simulation's seam (tests/sim): when set, `hook` is called at every point
// instead of the environment's rule, and may throw to end the simulated process right there.
// Set it before any thread reaches a point; null removes it.
using CrashPointHook = void (*)(std::string_view name);
void SetCrashPointHook(CrashPointHook hook);

}  // namespace pg2iceberg

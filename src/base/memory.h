// Process memory housekeeping.
#pragma once

namespace pg2iceberg {

// Returns memory the allocator keeps after frees to the system (glibc keeps freed blocks for
// reuse, so a process's resident size would otherwise stay at its peak after a large batch).
// Costs a walk over the free lists: call it after large work, not per row.
void ReleaseFreedMemory();

}  // namespace pg2iceberg

#include "base/memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace pg2iceberg {

void ReleaseFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace pg2iceberg

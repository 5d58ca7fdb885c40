#!/usr/bin/env bash
# The project's test command: installs what is missing, builds with warnings as errors, and
# runs every test (unit, integration against real PostgreSQL / REST catalog / S3 servers,
# end-to-end). Then builds with ASan+UBSan and runs the unit tests again under them.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -L unit         only tests with that ctest label (unit|integration|e2e)
#   PG2I_NO_SANITIZERS=1 scripts/test.sh   skip the sanitizer pass
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$ROOT/scripts/bootstrap.sh"

start=$(date +%s)
build_preset debug
status=0
ctest --test-dir "$ROOT/build/debug" --output-on-failure -j "$JOBS" "$@" || status=$?

if [[ -z "${PG2I_NO_SANITIZERS:-}" && $status -eq 0 ]]; then
  build_preset asan
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$ROOT/build/asan" --output-on-failure -j "$JOBS" -L unit || status=$?
fi
echo "test.sh: finished in $(( $(date +%s) - start ))s with status $status"
exit $status

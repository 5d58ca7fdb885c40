#!/usr/bin/env bash
# Builds and runs one libFuzzer target:  fuzz/run.sh <target> [seconds]   e.g.
#   fuzz/run.sh avro_reader_fuzz 60
#
# Configures $PG2I_FUZZ_BUILD_DIR (default build-fuzz) with clang++ and -DPG2I_BUILD_FUZZERS=ON,
# builds only <target>, and runs it for <seconds> (default 60) on a working corpus in the build
# dir, seeded from fuzz/corpus/<component>/ (the target's name up to the first "_"), with
# fuzz/<component>.dict when present. Crashes land in <build>/fuzz-artifacts/<target>/.
# Extra libFuzzer flags can be passed in PG2I_FUZZ_FLAGS (e.g. "-jobs=2 -workers=2").
set -euo pipefail

target=${1:?usage: fuzz/run.sh <target> [seconds]}
seconds=${2:-60}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PG2I_FUZZ_BUILD_DIR:-$root/build-fuzz}
component=${target%%_*}

CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Debug -DPG2I_BUILD_FUZZERS=ON -DPG2I_BUILD_TESTS=OFF >/dev/null
ninja -C "$build" -j2 "$target"

work="$build/fuzz-corpus/$target"
artifacts="$build/fuzz-artifacts/$target/"
mkdir -p "$work" "$artifacts"
args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts")
if [[ -f "$root/fuzz/$component.dict" ]]; then
  args+=(-dict="$root/fuzz/$component.dict")
fi
seeds=()
if [[ -d "$root/fuzz/corpus/$component" ]]; then
  seeds+=("$root/fuzz/corpus/$component")
fi
# New inputs go to the first directory (the working corpus); the seeds stay untouched.
# shellcheck disable=SC2086
exec "$build/fuzz/$target" "${args[@]}" ${PG2I_FUZZ_FLAGS:-} "$work" "${seeds[@]}"

# Shared helpers for the project's scripts. Source it; do not run it.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
JOBS="${PG2I_JOBS:-$(nproc)}"

# Configures and builds one CMake preset (debug, release, asan); prints nothing on success
# unless the build has something to say.
build_preset() {
  local preset="$1"
  cmake --preset "$preset" -S "$ROOT" >/dev/null
  cmake --build --preset "$preset" -j "$JOBS" | grep -vE '^\[[0-9]+/[0-9]+\] |^ninja: (Entering|Leaving|no work)' || true
  # grep eats the build's exit status: check it again.
  cmake --build --preset "$preset" -j "$JOBS" >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the unprivileged test user when we are root (PostgreSQL refuses root).
as_pg_user() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u pg2i_test -- "$@"
  else
    "$@"
  fi
}

# pg_start DIR PORT: a throwaway PostgreSQL 15 with wal_level=logical on 127.0.0.1:PORT.
pg_start() {
  local dir="$1" port="$2" bin=/usr/lib/postgresql/15/bin
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown pg2i_test "$dir"
  if [[ ! -f "$dir/PG_VERSION" ]]; then
    as_pg_user "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-sync >/dev/null
  fi
  as_pg_user "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start -o \
    "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$dir' \
     -c wal_level=logical -c max_replication_slots=32 -c max_wal_senders=32" >/dev/null
}

pg_stop() {
  local dir="$1"
  [[ -f "$dir/postmaster.pid" ]] || return 0
  as_pg_user /usr/lib/postgresql/15/bin/pg_ctl -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# For the benchmarks: BIN is the pg2iceberg binary of build dir $1 (default build/release); a
# throwaway PostgreSQL runs on PORT with its files in TMP (pg2iceberg-$2.*); q runs psql
# against it. On exit the process in RUN_PID (if set) is stopped, then the server, and TMP
# is removed.
bench_start() {
  BUILD=$(realpath -m "${1:-$ROOT/build/release}")  # absolute: the benchmarks cd into their scratch dir
  BIN="$BUILD/src/cli/pg2iceberg"
  [[ -x "$BIN" ]] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 2; }
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/pg2iceberg-$2.XXXXXX")"
  chmod 755 "$TMP"
  PORT=$(free_port)
  trap 'if [[ -n "${RUN_PID:-}" ]]; then kill -TERM "$RUN_PID" 2>/dev/null || true; fi; pg_stop "$TMP/pg"; rm -rf "$TMP"' EXIT
  pg_start "$TMP/pg" "$PORT"
  q() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }
}

# bench_set_up_slot: runs `run` (config.yaml in the current directory) until its replication
# slot is active, then stops it: the slot exists and the (empty) tables are copied, so what is
# written next waits in the slot as a backlog.
bench_set_up_slot() {
  "$BIN" --config config.yaml run > run0.log 2>&1 &
  RUN_PID=$!
  bench_wait_streaming run0.log
  kill -TERM $RUN_PID; wait $RUN_PID || true
}

# bench_wait_streaming LOG: waits (up to 60 s) until the `run` in RUN_PID has copied its tables
# and its replication slot is active; exits with LOG shown if the process ends first.
bench_wait_streaming() {
  for _ in $(seq 1 600); do
    [[ "$(q -At -c "SELECT count(*) FROM pg_replication_slots WHERE active")" == 1 ]] && return 0
    kill -0 "$RUN_PID" || { cat "$1"; exit 1; }
    sleep 0.1
  done
}

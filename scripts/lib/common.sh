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
# is removed (unless BENCH_KEEP=1).
bench_start() {
  BUILD=$(realpath -m "${1:-$ROOT/build/release}")  # absolute: the benchmarks cd into their scratch dir
  BIN="$BUILD/src/cli/pg2iceberg"
  [[ -x "$BIN" ]] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 2; }
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/pg2iceberg-$2.XXXXXX")"
  chmod 755 "$TMP"
  PORT=$(free_port)
  # BENCH_KEEP=1 keeps TMP (the warehouse, logs) for a look afterwards.
  trap 'if [[ -n "${RUN_PID:-}" ]]; then kill -TERM "$RUN_PID" 2>/dev/null || true; fi; pg_stop "$TMP/pg"
        if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi' EXIT
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

# bench_query_tools: sets PY (the project's Python), QUERY_TIMEOUT (seconds, default 300) and
# JAVA_CP (the test tools' jar, built if missing) for bench_probe.
bench_query_tools() {
  PY="$ROOT/.deps/venv/bin/python"
  QUERY_TIMEOUT=${QUERY_TIMEOUT:-300}
  local jar="$ROOT/tools/java/target/pg2iceberg-test-tools.jar"
  [[ -f "$jar" ]] || mvn -q -B -o -f "$ROOT/tools/java/pom.xml" -DskipTests package
  JAVA_CP="$jar:$ROOT/.deps/java/lib/*"
}

# bench_probe ENGINE METADATA_FILE PROBE_KEY: one engine's (duckdb, java, pyiceberg) timings of
# `count(*)` and of a point lookup on column id, as one line of JSON (or {"error": ...}). With
# PROBE_SUM=COLUMN the count also sums COLUMN (DuckDB, PyIceberg): an engine cannot answer it
# from file metadata; Iceberg Java's count reads column id anyway.
bench_probe() {
  local engine=$1 metadata=$2 probe_key=$3 out rc=0
  if [[ "$engine" == java ]]; then
    out=$(timeout "$QUERY_TIMEOUT" java -cp "$JAVA_CP" dev.pg2iceberg.tools.TimeQueries \
      --metadata-file "$metadata" --key id --probe "$probe_key" 2>/dev/null) || rc=$?
  else
    out=$(timeout "$QUERY_TIMEOUT" "$PY" "$ROOT/tools/python/query_probe.py" --engine "$engine" \
      --metadata-file "$metadata" --key id --probe "$probe_key" ${PROBE_SUM:+--sum "$PROBE_SUM"} \
      2>/dev/null) || rc=$?
  fi
  if (( rc == 124 )); then echo '{"error": "timeout"}'
  elif (( rc == 3 )); then echo '{"error": "refused (equality deletes)"}'
  elif (( rc != 0 )); then echo "{\"error\": \"exit $rc\"}"
  else echo "$out" | tr -d '\n'; echo; fi
}

# bench_ratio KEY TABLE_JSON LIVE_JSON: "A ms vs B ms (Rx)" of bench_probe's KEY (count_ms or
# point_ms) on a table and on its live-rows baseline.
bench_ratio() {
  "$PY" - "$1" "$2" "$3" <<'PY'
import json, sys
k, t, l = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
if "error" in t: print(t["error"])
elif "error" in l: print("baseline " + l["error"])
else: a, b = float(t[k]), float(l[k]); print("%.1f ms vs %.1f ms (%.2fx)" % (a, b, a / max(b, 0.1)))
PY
}

# bench_compare ENGINES METADATA_FILE LIVE_METADATA_FILE PROBE_KEY LIVE_ROWS: for each engine,
# `count(*)` and point-lookup times on the table next to its live-rows baseline, and WRONG when
# the engine's count is not LIVE_ROWS.
bench_compare() {
  local engines=$1 metadata=$2 live_meta=$3 probe_key=$4 live_rows=$5 engine tj lj rows
  for engine in $engines; do
    tj=$(bench_probe "$engine" "$metadata" "$probe_key")
    lj=$(bench_probe "$engine" "$live_meta" "$probe_key")
    echo "   $engine count(*): $(bench_ratio count_ms "$tj" "$lj");" \
      "point lookup: $(bench_ratio point_ms "$tj" "$lj")"
    rows=$("$PY" -c 'import json, sys; j = json.loads(sys.argv[1])
print(int(float(j["rows"])) if "rows" in j else "-")' "$tj")
    [[ "$rows" == "-" || "$rows" == "$live_rows" ]] ||
      echo "   WRONG: $engine counted $rows rows, PostgreSQL has $live_rows ($metadata)"
  done
}

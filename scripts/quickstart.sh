#!/usr/bin/env bash
# First contact: installs what is needed, builds pg2iceberg, starts a throwaway local
# PostgreSQL 15 with a demo table and runs `pg2iceberg run` against it with the embedded
# defaults (a config holding only source.postgres and tables), writes changes, waits until
# Iceberg has them, verifies, and shows the rows as Iceberg Java reads them. Everything it creates lives in
# .quickstart/ and the PostgreSQL server is stopped on exit (pass --keep to leave it running).
#
# It builds only the binary, with the `user` preset (optimised, compiler warnings not fatal:
# a newer or older compiler must not stop a user's first command; CI and developers build
# with warnings as errors).
#
# Environment: PG2I_BUILD_DIR=<dir> uses an existing build instead of building the user
# preset; PG2I_SKIP_BOOTSTRAP=1 skips the installer (the tests use both).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

KEEP=0
[[ "${1:-}" == "--keep" ]] && KEEP=1
QS="${PG2I_QUICKSTART_DIR:-$ROOT/.quickstart}"

[[ -n "${PG2I_SKIP_BOOTSTRAP:-}" ]] || "$ROOT/scripts/bootstrap.sh"
if [[ -n "${PG2I_BUILD_DIR:-}" ]]; then
  BIN="$PG2I_BUILD_DIR/src/cli/pg2iceberg"
else
  echo "quickstart: building pg2iceberg (user preset, build/user)"
  build_preset user
  BIN="$ROOT/build/user/src/cli/pg2iceberg"
fi

rm -rf "$QS"
mkdir -p "$QS"
PORT=$(free_port)
# The server's files live under /tmp: the unprivileged user it runs as (when we are root)
# may not be able to enter the checkout's directory.
PGDATA_QS="$(mktemp -d "${TMPDIR:-/tmp}/pg2iceberg-quickstart.XXXXXX")"
chmod 755 "$PGDATA_QS"
echo "quickstart: starting a throwaway PostgreSQL 15 on 127.0.0.1:$PORT (data in $PGDATA_QS)"
pg_start "$PGDATA_QS/pg" "$PORT"
if (( ! KEEP )); then
  trap 'pg_stop "$PGDATA_QS/pg"; rm -rf "$PGDATA_QS"' EXIT
fi

psql_qs() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }
psql_qs <<'SQL'
CREATE TABLE public.orders (
  id bigint PRIMARY KEY,
  customer text NOT NULL,
  amount numeric(10,2),
  created_at timestamptz NOT NULL DEFAULT now()
);
SQL

# Metrics are served on the default 127.0.0.1:9090 unless something else already listens there.
METRICS_ADDR=127.0.0.1:9090
if (exec 3<>/dev/tcp/127.0.0.1/9090) 2>/dev/null; then
  METRICS_ADDR="127.0.0.1:$(free_port)"
  echo "quickstart: port 9090 is taken; serving metrics on $METRICS_ADDR instead"
fi
cat > "$QS/config.yaml" <<YAML
# The smallest useful configuration: everything else takes its embedded default
# (SQL catalog in this PostgreSQL, warehouse in ./warehouse, metrics on 127.0.0.1:9090).
source:
  postgres:
    host: 127.0.0.1
    port: $PORT
    database: postgres
    user: postgres
tables:
  - name: public.orders
YAML
[[ "$METRICS_ADDR" == 127.0.0.1:9090 ]] || echo "metrics_addr: $METRICS_ADDR" >> "$QS/config.yaml"

cd "$QS"
echo "quickstart: pg2iceberg connect-pg"
"$BIN" --config config.yaml connect-pg

echo "quickstart: starting pg2iceberg run (log in $QS/run.log)"
"$BIN" --config config.yaml --log-format text run > run.log 2>&1 &
RUN_PID=$!
stop_run() { kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null || true; }
if (( ! KEEP )); then
  trap 'stop_run; pg_stop "$PGDATA_QS/pg"; rm -rf "$PGDATA_QS"' EXIT
fi
for _ in $(seq 1 100); do
  active=$(psql_qs -At -c "SELECT count(*) FROM pg_replication_slots WHERE active")
  [[ "$active" == "1" ]] && break
  kill -0 "$RUN_PID" 2>/dev/null || { cat run.log; echo "quickstart: pg2iceberg run exited" >&2; exit 1; }
  sleep 0.2
done

echo "quickstart: writing 1000 orders, then updating and deleting some"
psql_qs <<'SQL'
INSERT INTO public.orders (id, customer, amount)
SELECT g, 'customer-' || g, g * 1.25 FROM generate_series(1, 1000) g;
UPDATE public.orders SET amount = amount * 2 WHERE id <= 100;
DELETE FROM public.orders WHERE id > 990;
SQL

echo "quickstart: pg2iceberg status --wait (until Iceberg has everything)"
"$BIN" --config config.yaml status --wait --timeout 120s
echo "quickstart: pg2iceberg verify (PostgreSQL against Iceberg, row by row)"
"$BIN" --config config.yaml verify

echo "quickstart: a few of the metrics at http://$METRICS_ADDR/metrics (also /healthz, /ready):"
curl -sf "http://$METRICS_ADDR/metrics" |
  grep -E '^pg2iceberg_(snapshot_complete|staged_rows_total|materialized_rows_total|replication_lag_bytes|delete_files)[{ ]'
echo "quickstart: the Iceberg table as Iceberg Java reads it (first rows):"
CP="$ROOT/tools/java/target/pg2iceberg-test-tools.jar:$ROOT/.deps/java/lib/*"
java -cp "$CP" dev.pg2iceberg.tools.ReadTable --jdbc-uri "jdbc:postgresql://127.0.0.1:$PORT/postgres" \
  --jdbc-user postgres --jdbc-schema iceberg --catalog-name pg2iceberg \
  --warehouse "file://$QS/warehouse" --table default.orders --no-file-column > rows.tsv
head -5 rows.tsv
echo "quickstart: $(( $(wc -l < rows.tsv) - 1 )) rows in Iceberg table default.orders" \
     "(warehouse $QS/warehouse)"
# The same table through DuckDB, the way docs/querying.md shows it. DuckDB cannot download its
# extensions here, so the snippet's INSTALL/LOAD is replaced by loads by path (.deps/duckdb).
echo "quickstart: the same table through DuckDB; a user would type:"
echo "  pg2iceberg --config config.yaml catalog-info --engine duckdb > orders.sql && duckdb < orders.sql"
"$BIN" --config config.yaml catalog-info --engine duckdb > orders.sql
cat orders.sql
"$ROOT/.deps/venv/bin/python" - orders.sql "$ROOT/tools/python" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import read_duckdb  # DuckDB 1.5.5 from .deps/duckdb, its extensions loaded by path
statements = [s for s in open(sys.argv[1]).read().split(";\n") if s.strip()]
con = read_duckdb.connect(None, False)
for s in statements[:-1]:
    if not s.strip().startswith(("INSTALL", "LOAD")):
        con.execute(s)
query = statements[-1]
print("%d rows; the first 5 by id:" % con.execute("SELECT count(*) FROM (%s\n)" % query).fetchone()[0])
con.sql("SELECT * FROM (%s\n) ORDER BY id LIMIT 5" % query).show()
PY
stop_run
if (( KEEP )); then
  echo "quickstart: PostgreSQL left running on 127.0.0.1:$PORT; stop it with:"
  echo "  runuser -u pg2i_test -- /usr/lib/postgresql/15/bin/pg_ctl -D $PGDATA_QS/pg stop  (as root)"
fi

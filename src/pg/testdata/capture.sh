#!/usr/bin/env bash
# Regenerates pgoutput golden files from a real PostgreSQL 15: starts a throwaway cluster,
# runs the workload in capture.sql, and writes every pgoutput message the slot produced
# (proto_version 2, streaming on, messages on) as "lsn<TAB>xid<TAB>hex" lines to
# pgoutput_v2.tsv, plus the same workload's non-streamed proto 1 output to pgoutput_v1.tsv.
# Run it only when the workload changes; pgoutput_test.cc asserts on the committed files.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../../../scripts/lib/common.sh"
TMP="$(mktemp -d /tmp/pg2iceberg-capture.XXXXXX)"
chmod 755 "$TMP"
PORT=$(free_port)
trap 'pg_stop "$TMP/pg"; rm -rf "$TMP"' EXIT
pg_start "$TMP/pg" "$PORT"
as_pg_user /usr/lib/postgresql/15/bin/pg_ctl -D "$TMP/pg" -w restart -o \
  "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='$TMP/pg' -c wal_level=logical -c logical_decoding_work_mem=64kB" >/dev/null
q() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }
q -c "CREATE PUBLICATION golden_pub FOR ALL TABLES" \
  -c "SELECT pg_create_logical_replication_slot('golden_v2', 'pgoutput')" \
  -c "SELECT pg_create_logical_replication_slot('golden_v1', 'pgoutput')" >/dev/null
q -f "$HERE/capture.sql" >/dev/null
q -At -F $'\t' -c "SELECT lsn, xid, encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('golden_v2', NULL, NULL, 'proto_version', '2', 'publication_names', 'golden_pub', 'streaming', 'on', 'messages', 'true')" > "$HERE/pgoutput_v2.tsv"
q -At -F $'\t' -c "SELECT lsn, xid, encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('golden_v1', NULL, NULL, 'proto_version', '1', 'publication_names', 'golden_pub')" > "$HERE/pgoutput_v1.tsv"
wc -l "$HERE"/pgoutput_v*.tsv

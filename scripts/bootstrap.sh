#!/usr/bin/env bash
# Installs everything pg2iceberg needs to build and test, idempotently: safe to re-run, quiet
# and fast when everything is present. Downloads are cached in ignored folders of the project
# (.deps/) so a second run makes no network requests.
#
#   scripts/bootstrap.sh            install what is missing
#   scripts/bootstrap.sh --check    report what is missing, install nothing (exit 1 if any)
#
# What it installs:
#   - Debian packages (compiler toolchain, libpq, PostgreSQL 15 server, JSON/YAML/CLI/logging
#     libraries, curl, OpenSSL, zlib, zstd, RocksDB, GoogleTest, Google Benchmark, clang for
#     fuzzing)
#   - .deps/venv: Python venv with pyarrow==26.0.1 (Arrow/Parquet C++ headers and libraries
#     used by the build), PyIceberg, fastavro and prometheus-client (test readers), and the
#     Kubernetes client (its models check deploy/kubernetes)
#   - .deps/duckdb: DuckDB 1.5.5 with its iceberg extension from PyPI (test reader)
#   - .deps/java/lib: Iceberg REST catalog server + Iceberg Java reader classpath (Maven)
#   - .deps/bin/versitygw: S3 server for tests (go install; on Debian 12, whose Go is too old,
#     with golang-1.23-go from bookworm-backports, which fetches the Go 1.25 toolchain itself)
#   - a system user pg2i_test when running as root (PostgreSQL refuses to run as root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1

PYARROW_VERSION=26.0.1
PYICEBERG_VERSION=0.12.0
VERSITYGW_VERSION=v1.7.0

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git bc curl ca-certificates procps
  libpq-dev postgresql-15 postgresql-client-15
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcivetweb-dev librocksdb-dev
  libroaring-dev
  clang libclang-rt-14-dev
  python3 python3-venv
  openjdk-17-jdk-headless maven
)

say() { echo "bootstrap: $*"; }
# Runs a command with its output kept in a log that is shown only if it fails.
quiet() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "bootstrap: failed: $*" >&2
    return 1
  fi
  rm -f "$log"
}
missing=()

# --- Debian packages -------------------------------------------------------------------
apt_missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$p")
done
# Java, Maven and Go may come from outside Debian on a given machine; accept any on PATH.
filtered=()
for p in "${apt_missing[@]}"; do
  case "$p" in
    openjdk-17-jdk-headless) command -v java >/dev/null && command -v javac >/dev/null && continue ;;
    maven) command -v mvn >/dev/null && continue ;;
    python3|python3-venv) python3 -c 'import venv, ensurepip' 2>/dev/null && continue ;;
  esac
  filtered+=("$p")
done
apt_missing=("${filtered[@]+"${filtered[@]}"}")
if (( ${#apt_missing[@]} )); then
  if (( CHECK_ONLY )); then
    missing+=("apt: ${apt_missing[*]}")
  else
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    say "installing Debian packages: ${apt_missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${apt_missing[@]}" >/dev/null
  fi
fi

# --- Unprivileged user for test PostgreSQL clusters when running as root ------------------
if [[ $(id -u) -eq 0 ]] && ! id pg2i_test >/dev/null 2>&1; then
  if (( CHECK_ONLY )); then
    missing+=("user pg2i_test")
  else
    say "creating system user pg2i_test (PostgreSQL refuses to run as root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin pg2i_test
  fi
fi

# --- Python venv with pyarrow (Arrow/Parquet C++) and the test readers -------------------
VENV="$DEPS/venv"
# The official Prometheus client's parser checks the /metrics text in tests.
PROMETHEUS_CLIENT_VERSION=0.26.0
# The official Kubernetes client's models check the manifests of deploy/kubernetes in tests.
KUBERNETES_CLIENT_VERSION=37.0.3
venv_ok() {
  [[ -x "$VENV/bin/python" ]] &&
  "$VENV/bin/python" - "$PYARROW_VERSION" "$PYICEBERG_VERSION" "$PROMETHEUS_CLIENT_VERSION" \
    "$KUBERNETES_CLIENT_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
assert version("pyarrow") == sys.argv[1]
assert version("pyiceberg") == sys.argv[2]
assert version("prometheus-client") == sys.argv[3]
assert version("kubernetes") == sys.argv[4]
import fastavro  # noqa: F401
EOF
}
if ! venv_ok; then
  if (( CHECK_ONLY )); then
    missing+=("python venv $VENV")
  else
    say "creating Python venv with pyarrow==$PYARROW_VERSION (Arrow C++ for the build) and test readers"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
      "pyarrow==$PYARROW_VERSION" "pyiceberg[sql-postgres,pyarrow]==$PYICEBERG_VERSION" \
      fastavro "prometheus-client==$PROMETHEUS_CLIENT_VERSION" \
      "kubernetes==$KUBERNETES_CLIENT_VERSION"
  fi
fi

# --- DuckDB with its iceberg extension (an independent reader for tests) ---------------------
# DuckDB normally downloads extensions from its own server, which is not reachable here; the
# extension binaries are on PyPI for DuckDB 1.5.5, so that version lives in its own folder
# (tools/python/read_duckdb.py looks there).
DUCKDB_DIR="$DEPS/duckdb"
DUCKDB_VERSION=1.5.5
if [[ ! -f "$DUCKDB_DIR/.installed-$DUCKDB_VERSION" ]]; then
  if (( CHECK_ONLY )); then
    missing+=("duckdb $DUCKDB_VERSION with the iceberg extension in $DUCKDB_DIR")
  else
    say "installing DuckDB $DUCKDB_VERSION with its iceberg, avro and httpfs extensions"
    rm -rf "$DUCKDB_DIR"
    "$VENV/bin/pip" install -q --disable-pip-version-check --target "$DUCKDB_DIR" \
      "duckdb==$DUCKDB_VERSION" "duckdb-extension-iceberg==$DUCKDB_VERSION" \
      "duckdb-extension-avro==$DUCKDB_VERSION" "duckdb-extension-httpfs==$DUCKDB_VERSION" >/dev/null
    touch "$DUCKDB_DIR/.installed-$DUCKDB_VERSION"
  fi
fi

# --- Java: REST catalog server and Iceberg Java reader (Maven Central) ---------------------
JAVA_LIB="$DEPS/java/lib"
POM="$ROOT/tools/java/pom.xml"
pom_stamp="$DEPS/java/pom.sha256"
pom_sum="$(sha256sum "$POM" | cut -d' ' -f1)"
if [[ ! -f "$pom_stamp" || "$(cat "$pom_stamp")" != "$pom_sum" ]] || ! ls "$JAVA_LIB"/iceberg-open-api-*test-fixtures.jar >/dev/null 2>&1; then
  if (( CHECK_ONLY )); then
    missing+=("java classpath $JAVA_LIB")
  else
    say "resolving the Iceberg REST catalog server and Iceberg Java with Maven"
    rm -rf "$JAVA_LIB"
    mkdir -p "$JAVA_LIB"
    quiet mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$JAVA_LIB"
    echo "$pom_sum" > "$pom_stamp"
  fi
fi
# The project's own Java test tools (readers), rebuilt when their sources change.
if [[ -d "$ROOT/tools/java/src" ]]; then
  src_sum="$( (cat "$POM"; find "$ROOT/tools/java/src" -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -d' ' -f1)"
  src_stamp="$DEPS/java/tools.sha256"
  if [[ ! -f "$src_stamp" || "$(cat "$src_stamp")" != "$src_sum" ]] || ! ls "$ROOT"/tools/java/target/*.jar >/dev/null 2>&1; then
    if (( CHECK_ONLY )); then
      missing+=("java test tools jar")
    else
      say "building the Java test tools"
      quiet mvn -q -B -Dstyle.color=never -f "$POM" -DskipTests package
      echo "$src_sum" > "$src_stamp"
    fi
  fi
fi

# --- Go, for versitygw ---------------------------------------------------------------------
# versitygw $VERSITYGW_VERSION needs Go 1.25. Go 1.21 and newer fetch the toolchain a module
# needs by themselves (GOTOOLCHAIN, through the Go module proxy); Debian 12's golang-go is 1.19,
# which cannot, so there Go 1.23 comes from Debian's bookworm-backports (golang-1.23-go).
go_minor() { "$1" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p'; }
GO_BIN="$(command -v go || true)"
if [[ ! -x "$DEPS/bin/versitygw" ]] && [[ -z "$GO_BIN" || "$(go_minor "$GO_BIN")" -lt 21 ]] 2>/dev/null; then
  if [[ -x /usr/lib/go-1.23/bin/go ]]; then
    GO_BIN=/usr/lib/go-1.23/bin/go
  elif (( CHECK_ONLY )); then
    missing+=("Go 1.21 or newer (golang-1.23-go from bookworm-backports on Debian 12)")
  else
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    if [[ "$codename" == bookworm ]]; then
      list=/etc/apt/sources.list.d/pg2iceberg-bookworm-backports.list
      if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        say "adding Debian's bookworm-backports to apt's sources ($list) for Go 1.23"
        echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$list" >/dev/null
      fi
      $SUDO apt-get update -qq
      say "installing golang-1.23-go from bookworm-backports"
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        -t bookworm-backports golang-1.23-go >/dev/null
      GO_BIN=/usr/lib/go-1.23/bin/go
    else
      say "installing golang-go"
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        golang-go >/dev/null
      GO_BIN="$(command -v go)"
    fi
  fi
fi

# --- versitygw (S3 server for tests) -------------------------------------------------------
if [[ ! -x "$DEPS/bin/versitygw" ]]; then
  if (( CHECK_ONLY )); then
    missing+=("versitygw")
  else
    say "installing versitygw $VERSITYGW_VERSION with go install"
    mkdir -p "$DEPS/bin"
    GOBIN="$DEPS/bin" GOFLAGS=-buildvcs=false GOTOOLCHAIN=auto "$GO_BIN" install \
      "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  fi
fi

if (( CHECK_ONLY )); then
  if (( ${#missing[@]} )); then
    printf 'bootstrap: missing: %s\n' "${missing[@]}"
    exit 1
  fi
  say "everything is installed"
fi

"""The real components a conformance run talks to, each a child process on a free loopback port
in its own directory: PostgreSQL 15, versitygw (S3) and the Iceberg REST catalog server. Mirrors
tests/fixtures (pg_cluster.cc, s3_server.cc, rest_catalog_server.cc), in Python."""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import hmac
import os
import pwd
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Callable, Dict, List, Optional

SERVER_USER = "pg2i_test"   # postgres refuses to run as root; scripts/bootstrap.sh creates it
START_ATTEMPTS = 3
REGION = "us-east-1"


class ComponentError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: str, max_bytes: int = 3000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the runner dies (e.g. killed by a ctest timeout).
    Runs after the uid switch, which would otherwise clear the setting."""
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Process:
    """A child in its own process group with its output in a log file."""

    def __init__(self, argv: List[str], log_path: str, env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None, user: Optional[pwd.struct_passwd] = None):
        self.argv, self.log_path = argv, log_path
        self._log = open(log_path, "ab")
        kw = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                      start_new_session=True, preexec_fn=_die_with_parent, **kw)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15.0) -> Optional[int]:
        """Signals the process, waits `grace` seconds, then kills its whole group."""
        if self.alive():
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait()
        else:
            try:   # leftovers in its group (a child it forked)
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._log.close()
        return self.popen.returncode


def wait_until(what: str, timeout: float, ready: Callable[[], bool], proc: Optional[Process] = None,
               interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and not proc.alive():
            raise ComponentError("%s exited with %s before it was ready; log ends with:\n%s"
                                 % (what, proc.popen.returncode, tail(proc.log_path)))
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        if time.monotonic() > deadline:
            log = ("; log ends with:\n" + tail(proc.log_path)) if proc else ""
            raise ComponentError("%s not ready after %ds%s" % (what, timeout, log))
        time.sleep(interval)


def _start_with_retries(start: Callable[[], object], what: str):
    """Retries a start that lost the race for its free port."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return start()
        except ComponentError as e:
            if attempt == START_ATTEMPTS or "in use" not in str(e).lower():
                raise ComponentError("%s: %s" % (what, e)) from None


def http_get(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


# ------------------------------------------------------------------ PostgreSQL


class Postgres:
    def __init__(self, root: str, bindir: str):
        self.bindir = bindir
        self.dir = os.path.join(root, "pg")
        self.data = os.path.join(self.dir, "data")
        self.user = None
        self.proc: Optional[Process] = None
        self.port = 0
        for tool in ("initdb", "postgres", "psql"):
            if not os.access(os.path.join(bindir, tool), os.X_OK):
                raise ComponentError("no %s in %s (set PG2I_PG_BINDIR)" % (tool, bindir))
        os.makedirs(self.dir)
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise ComponentError("running as root, but the system user %s that runs test postgres "
                                     "servers does not exist; run scripts/bootstrap.sh (or useradd "
                                     "--system %s)" % (SERVER_USER, SERVER_USER)) from None
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        log = os.path.join(self.dir, "initdb.log")
        with open(log, "wb") as f:
            kw = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []} if self.user else {}
            rc = subprocess.run([os.path.join(bindir, "initdb"), "-D", self.data, "--auth=trust", "-U", "postgres",
                                 "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                                stdout=f, stderr=subprocess.STDOUT, cwd=self.dir, timeout=300, **kw).returncode
        if rc != 0:
            raise ComponentError("initdb exited with %d:\n%s" % (rc, tail(log)))
        _start_with_retries(self._start, "PostgreSQL")

    def _start(self) -> None:
        self.port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1", "unix_socket_directories": self.data,
            "wal_level": "logical", "max_replication_slots": "64", "max_wal_senders": "64",
            "max_connections": "300", "fsync": "off", "full_page_writes": "off",
            "TimeZone": "UTC", "logging_collector": "off", "log_line_prefix": "%m [%p] %q%a ",
        }
        argv = [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port)]
        for k, v in settings.items():
            argv += ["-c", "%s=%s" % (k, v)]
        env = dict(os.environ, LC_ALL="C")
        self.proc = Process(argv, os.path.join(self.dir, "postgres.log"), env=env, cwd=self.dir, user=self.user)
        try:
            wait_until("postgres on port %d" % self.port, 60,
                       lambda: self.psql_capture("SELECT 1", check=False).returncode == 0, self.proc)
        except ComponentError:
            self.proc.stop(signal.SIGKILL, 0)
            raise

    def psql_argv(self, *extra: str) -> List[str]:
        return [os.path.join(self.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                "-p", str(self.port), "-U", "postgres", "-d", "postgres", *extra]

    def psql_capture(self, sql: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Runs SQL (a script of any number of statements) through psql; stdout unaligned."""
        p = subprocess.run(self.psql_argv("-A", "-t", "-f", "-"), input=sql.encode("utf-8"),
                           capture_output=True, timeout=timeout, env=dict(os.environ, PGCONNECT_TIMEOUT="10"))
        if check and p.returncode != 0:
            raise ComponentError("psql exited with %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace").strip()))
        return p

    def query(self, sql: str) -> str:
        return self.psql_capture(sql).stdout.decode("utf-8", "replace").strip()

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(signal.SIGINT, 15)   # SIGINT: fast shutdown
            self.proc = None


# ------------------------------------------------------------------ versitygw (S3)


def sigv4_request(method: str, endpoint: str, path: str, access_key: str, secret_key: str,
                  body: bytes = b"", region: str = REGION) -> urllib.request.Request:
    """A path-style S3 request signed with AWS Signature V4 (no query string)."""
    now = dt.datetime.now(dt.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = endpoint.split("://", 1)[1].rstrip("/")
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, path, "", *("%s:%s" % (k, headers[k]) for k in sorted(headers)), "",
                           signed, payload])
    scope = "%s/%s/s3/aws4_request" % (day, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(endpoint.rstrip("/") + path, data=body if method in ("PUT", "POST") else None,
                                 method=method)
    req.add_header("x-amz-content-sha256", payload)
    req.add_header("x-amz-date", amz_date)
    req.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                   % (access_key, scope, signed, signature))
    return req


class S3Server:
    HEALTH = "/pg2i-health"

    def __init__(self, root: str, versitygw: str):
        if not os.access(versitygw, os.X_OK):
            raise ComponentError("no versitygw at %s (set PG2I_VERSITYGW or run scripts/bootstrap.sh)" % versitygw)
        self.exe = versitygw
        self.dir = os.path.join(root, "s3")
        self.data = os.path.join(self.dir, "root")
        os.makedirs(self.data)
        self.access_key = "PG2I" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.proc: Optional[Process] = None
        _start_with_retries(self._start, "versitygw")

    def _start(self) -> None:
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        # Keys through the environment rather than argv, so they do not show up in `ps`.
        env = dict(os.environ, ROOT_ACCESS_KEY_ID=self.access_key, ROOT_SECRET_ACCESS_KEY=self.secret_key)
        self.proc = Process([self.exe, "--port", "127.0.0.1:%d" % self.port, "--health", self.HEALTH,
                             "--quiet", "posix", self.data], os.path.join(self.dir, "versitygw.log"),
                            env=env, cwd=self.dir)
        try:
            wait_until("versitygw on port %d" % self.port, 60,
                       lambda: http_get(self.endpoint + self.HEALTH) == 200, self.proc)
        except ComponentError:
            self.proc.stop(signal.SIGKILL, 0)
            raise

    def create_bucket(self, bucket: str) -> None:
        req = sigv4_request("PUT", self.endpoint, "/" + bucket, self.access_key, self.secret_key)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
        except urllib.error.HTTPError as e:
            raise ComponentError("creating bucket %s: HTTP %d %s" % (bucket, e.code, e.read()[:300])) from None
        # Listing the buckets proves the bucket exists and that the signing is right.
        req = sigv4_request("GET", self.endpoint, "/", self.access_key, self.secret_key)
        with urllib.request.urlopen(req, timeout=30) as r:
            if ("<Name>%s</Name>" % bucket).encode() not in r.read():
                raise ComponentError("bucket %s missing from the bucket list after creation" % bucket)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(signal.SIGTERM, 10)
            self.proc = None


# ------------------------------------------------------------------ Iceberg REST catalog server


def java_path() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return "java"


class RestCatalog:
    MAIN = "org.apache.iceberg.rest.RESTCatalogServer"

    def __init__(self, root: str, java_lib: str, s3: S3Server, bucket: str, prefix: str):
        if not os.path.isdir(java_lib):
            raise ComponentError("the Iceberg REST catalog jars are missing: %s is not a directory; run "
                                 "scripts/bootstrap.sh or set PG2I_JAVA_LIB_DIR" % java_lib)
        self.java_lib, self.s3 = java_lib, s3
        self.dir = os.path.join(root, "rest")
        os.makedirs(self.dir)
        self.warehouse = "s3://%s/%s" % (bucket, prefix)
        self.proc: Optional[Process] = None
        _start_with_retries(self._start, "REST catalog server")

    def _start(self) -> None:
        self.port = free_port()
        self.uri = "http://127.0.0.1:%d" % self.port
        # RESTCatalogServer maps CATALOG_A_B__C to the catalog property a.b-c.
        env = dict(os.environ,
                   CATALOG_REST_PORT=str(self.port),
                   CATALOG_URI="jdbc:sqlite:file:%s/catalog-%d.db" % (self.dir, self.port),
                   CATALOG_WAREHOUSE=self.warehouse,
                   CATALOG_IO__IMPL="org.apache.iceberg.aws.s3.S3FileIO",
                   CATALOG_S3_ENDPOINT=self.s3.endpoint,
                   CATALOG_S3_PATH__STYLE__ACCESS="true",
                   CATALOG_S3_ACCESS__KEY__ID=self.s3.access_key,
                   CATALOG_S3_SECRET__ACCESS__KEY=self.s3.secret_key,
                   CATALOG_CLIENT_REGION=REGION,
                   AWS_REGION=REGION,
                   AWS_EC2_METADATA_DISABLED="true")
        argv = [java_path(), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xms64m", "-Xmx512m",
                "-Djava.io.tmpdir=" + self.dir, "-cp", os.path.join(self.java_lib, "*"), self.MAIN]
        self.proc = Process(argv, os.path.join(self.dir, "rest-catalog.log"), env=env, cwd=self.dir)
        try:
            wait_until("REST catalog server on port %d" % self.port, 120,
                       lambda: http_get(self.uri + "/v1/config") == 200, self.proc, interval=0.3)
        except ComponentError:
            self.proc.stop(signal.SIGKILL, 0)
            raise

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(signal.SIGTERM, 15)
            self.proc = None

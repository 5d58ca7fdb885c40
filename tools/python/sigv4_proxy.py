"""A reverse proxy that verifies AWS Signature V4 on every request before forwarding it: the
stand-in for the S3 Tables and Glue Iceberg REST endpoints in tests (the REST catalog fixture
behind it does not check signatures).

    sigv4_proxy.py --port P --upstream http://127.0.0.1:Q --strip-prefix /iceberg \
        --access-key AK --secret-key SK --service s3tables --region us-east-2 --log FILE

The signature is recomputed from the request as received (method, path, query, the signed
headers, the body) with the known secret, independently of the signer under test; the
credential scope must name --service and --region. A request that fails gets 403 and is not
forwarded. Each request is logged to FILE as a JSON line {"ok", "method", "path", "query",
"reason"}.
"""
import argparse
import datetime
import hashlib
import hmac
import http.server
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

ARGS = None
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def uri_encode(s, keep_slash=False):
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in UNRESERVED or (keep_slash and c == "/"):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def canonical_query(query):
    pairs = []
    for part in query.split("&") if query else []:
        k, _, v = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote_plus(k)), uri_encode(urllib.parse.unquote_plus(v))))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def verify(method, raw_path, headers, body):
    auth = headers.get("authorization", "")
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                 r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", auth)
    if not m:
        return "no SigV4 Authorization header"
    key, day, region, service, signed, signature = m.groups()
    if key != ARGS.access_key:
        return "unknown access key"
    if service != ARGS.service or region != ARGS.region:
        return "credential scope %s/%s, expected %s/%s" % (region, service, ARGS.region, ARGS.service)
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(day):
        return "x-amz-date does not match the credential scope"
    when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900:
        return "request time too skewed"
    payload = hashlib.sha256(body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared != payload:
        return "x-amz-content-sha256 does not match the body"
    path, _, query = raw_path.partition("?")
    canonical_uri = uri_encode(path, keep_slash=True)  # non-S3 services: the path encoded again
    names = signed.split(";")
    if "host" not in names:
        return "host is not signed"
    canon_headers = ""
    for n in names:
        if n not in headers:
            return "signed header %s missing" % n
        canon_headers += n + ":" + " ".join(headers[n].split()) + "\n"
    creq = "\n".join([method, canonical_uri, canonical_query(query), canon_headers, signed, payload])
    scope = "/".join([day, region, service, "aws4_request"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + ARGS.secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "signature does not match"
    return None


def log(record):
    with open(ARGS.log, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        reason = verify(self.command, self.path, headers, body)
        path, _, query = self.path.partition("?")
        log({"ok": reason is None, "method": self.command, "path": path,
             "query": urllib.parse.unquote(query), "reason": reason})
        if reason is not None:
            self.reply(403, json.dumps({"error": {"message": "SigV4: " + reason, "type": "ForbiddenException",
                                                  "code": 403}}).encode(), "application/json")
            return
        if ARGS.strip_prefix and path.startswith(ARGS.strip_prefix):
            path = path[len(ARGS.strip_prefix):]
        url = ARGS.upstream + path + ("?" + query if query else "")
        fwd = {k: v for k, v in self.headers.items()
               if k.lower() not in ("host", "authorization", "content-length", "connection",
                                    "accept-encoding")}
        req = urllib.request.Request(url, data=body if body else None, headers=fwd, method=self.command)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                self.reply(r.status, r.read(), r.headers.get("Content-Type"))
        except urllib.error.HTTPError as e:
            self.reply(e.code, e.read(), e.headers.get("Content-Type"))

    def reply(self, status, data, content_type):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = handle_any

    def log_message(self, *args):
        pass


def main():
    global ARGS
    p = argparse.ArgumentParser()
    for a in ("--upstream", "--access-key", "--secret-key", "--service", "--region", "--log"):
        p.add_argument(a, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--strip-prefix", default="")
    ARGS = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

"""Receives pg2iceberg's commit events for tests and the example in docs/notifications.md.

    commit_receiver.py webhook --port P --out FILE      HTTP receiver: every POST is taken (200)
    commit_receiver.py listen --dsn DSN --channel C --out FILE
                                                        LISTEN on a PostgreSQL channel

Each event received is appended to FILE as one JSON line: {"via": "webhook"|"notify",
"idempotency_key": <header or null>, "event": <the event>}. Runs until killed.
"""
import argparse
import http.server
import json
import select
import sys


def append(path, record):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def webhook(port, out):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                event = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            append(out, {"via": "webhook", "idempotency_key": self.headers.get("Idempotency-Key"),
                         "event": event})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.allow_reuse_address = True
    print("listening", flush=True)
    server.serve_forever()


def listen(dsn, channel, out):
    import psycopg2
    import psycopg2.extensions

    conn = psycopg2.connect(dsn)
    conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    conn.cursor().execute("LISTEN " + psycopg2.extensions.quote_ident(channel, conn))
    print("listening", flush=True)
    while True:
        if select.select([conn], [], [], 1.0) == ([], [], []):
            continue
        conn.poll()
        while conn.notifies:
            n = conn.notifies.pop(0)
            append(out, {"via": "notify", "idempotency_key": None, "event": json.loads(n.payload)})


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    w = sub.add_parser("webhook")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--out", required=True)
    l = sub.add_parser("listen")
    l.add_argument("--dsn", required=True)
    l.add_argument("--channel", required=True)
    l.add_argument("--out", required=True)
    a = p.parse_args()
    if a.mode == "webhook":
        webhook(a.port, a.out)
    else:
        listen(a.dsn, a.channel, a.out)


if __name__ == "__main__":
    sys.exit(main())

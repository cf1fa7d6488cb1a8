#!/usr/bin/env python3
"""A stand-in for an Elasticsearch node that records the `_bulk` bodies it
receives (gunzipped) into one file and answers every document as created.

Used by benches/lab/es-ingest.sh to capture the exact documents (action
lines with spanlens's own ids, and sources) that `spanlens replay --es`
sends, so the plain bulk loader can send the very same bytes.

    es_capture_server.py PORT OUT_FILE

It answers `GET /` with an 8.19 version, template GETs with 404 and PUTs
with `acknowledged`, and `POST /_bulk` with one `{"create":{"status":201}}`
per document. It listens on 127.0.0.1 only and stops on SIGTERM.
"""
import gzip
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n)
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return data

    def do_GET(self):
        if self.path == "/" or self.path.startswith("/?"):
            self.reply(200, {"version": {"number": "8.19.21"}})
        else:
            self.reply(404, {"error": "not found", "status": 404})

    def do_PUT(self):
        self.body()
        self.reply(200, {"acknowledged": True})

    def do_POST(self):
        data = self.body()
        if self.path.startswith("/_bulk"):
            with open(self.server.out, "ab") as f:
                f.write(data)
            docs = data.count(b"\n") // 2
            self.reply(200, {"errors": False,
                             "items": [{"create": {"status": 201}}] * docs})
        else:
            self.reply(200, {})


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.out = out
    srv.serve_forever()


if __name__ == "__main__":
    main()

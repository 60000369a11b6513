#!/usr/bin/env python3
"""An OpenAI-compatible endpoint that misbehaves on purpose, for NetWatch's enrichment tests.

usage: bad_llm.py PORT MODE BODIES_FILE
MODE: slow (answers after 30 s), 500 (Internal Server Error), garbage (invalid JSON), record
(answers properly: "Recorded.").
Every request body received is appended to BODIES_FILE (one JSON document per line).
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODE, BODIES = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(BODIES, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        if MODE == "slow":
            time.sleep(30)
            reply, status = b'{"choices":[{"message":{"content":"late"}}]}', 200
        elif MODE == "record":
            reply, status = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"Recorded."}}]}', 200
        elif MODE == "500":
            reply, status = b"internal error", 500
        else:
            reply, status = b'{"choices": [ {"message": {"content": "unterminated', 200
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except OSError:
            pass

    def log_message(self, *a):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()

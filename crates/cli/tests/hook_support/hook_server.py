"""A real HTTP hook service for the access-control tests.

Prints "PORT <n>" once listening on 127.0.0.1 (port chosen by the kernel), then answers every
POST by the stream name it carries (JSON `stream` or nginx-style form `name`):
  app "closed"     -> 403 (connect refused)
  name "deny..."   -> 403 "no such key"
  name "slow..."   -> waits 5 s, then 200
  name "key-X"     -> renames to X: JSON 200 {"stream": "X"}; nginx style 302 Location: X
  name "push-..."  -> JSON 200 {"push": [every `relay=` value of the param]} (push relays)
  name "rec-..."   -> JSON 200 {"record": true} (record the publish)
  anything else    -> 200 {}
Each request is appended to the JSON-lines file given as argv[1]:
  {"path", "content_type", "body"}.
"""
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace")
        ctype = self.headers.get("Content-Type") or ""
        with LOCK:
            with open(LOG, "a") as f:
                f.write(json.dumps({"path": self.path, "content_type": ctype, "body": raw}) + "\n")
        nginx = "x-www-form-urlencoded" in ctype
        if nginx:
            form = urllib.parse.parse_qs(raw)
            name = form.get("name", [""])[0]
            app = form.get("app", [""])[0]
        else:
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            name = body.get("stream", "")
            app = body.get("app", "")
        if app == "closed":
            return self.reply(403, b"application closed")
        if name.startswith("deny"):
            return self.reply(403, b"no such key")
        if name.startswith("slow"):
            time.sleep(5)
            return self.reply(200, b"{}")
        if name.startswith("push-") and not nginx:
            param = urllib.parse.parse_qs(body.get("param", ""))
            return self.reply(200, json.dumps({"push": param.get("relay", [])}).encode())
        if name.startswith("rec-"):
            return self.reply(200, json.dumps({"record": True}).encode())
        if name.startswith("key-"):
            new = name[4:]
            if nginx:
                self.send_response(302)
                self.send_header("Location", new)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.reply(200, json.dumps({"stream": new}).encode())
        return self.reply(200, b"{}")

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print("PORT", server.server_address[1], flush=True)
server.serve_forever()

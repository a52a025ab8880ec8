#!/usr/bin/env python3
"""A stand-in for the outside message system: it takes the bridge's POST /api/messages/
and answers each message on the X-Webhook-URL it came with ("Эхо: <text>"), signed with
BRIDGE_SIGNING_SECRET (X-Zayavka-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">).
Run: BRIDGE_SIGNING_SECRET=... python3 examples/echo_system.py 8099
(then BRIDGE_API_BASE=http://127.0.0.1:8099 OUTBOUND_ALLOW_HOSTS=127.0.0.1)"""
import hashlib, hmac, json, os, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

def answer(url, client_id, text):
    body = json.dumps({"client_id": client_id, "content": "Эхо: " + text}).encode()
    t = str(int(time.time()))
    mac = hmac.new(os.environ["BRIDGE_SIGNING_SECRET"].encode(), t.encode() + b"." + body,
                   hashlib.sha256).hexdigest()
    req = urllib.request.Request(url, body, {"content-type": "application/json",
                                             "x-zayavka-signature": f"t={t},v1={mac}"})
    print(client_id, urllib.request.urlopen(req).status, flush=True)

class Messages(BaseHTTPRequestHandler):
    def do_POST(self):
        msg = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(202); self.end_headers()
        threading.Thread(target=answer, args=(self.headers["x-webhook-url"],
                         msg["client_id"], msg["content"])).start()

HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8099), Messages).serve_forever()

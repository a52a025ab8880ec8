#!/usr/bin/env python3
"""Cold start of a Lambda function binary, measured locally.

A fake Lambda Runtime API on 127.0.0.1 hands the binary one API Gateway v2 event (a sample
from events/) and records, from the moment the process is started:
  - init: the binary's first GET .../invocation/next (runtime, config and clients ready),
  - first response: its POST .../response for that event,
and the process's peak resident memory (VmHWM) right after the response.

usage: scripts/coldstart.py BINARY EVENT.json [RUNS]
"""
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time


def measure(binary, event_bytes):
    marks = {}
    done = threading.Event()

    class Runtime(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if "next" in self.path and "init" not in marks:
                marks["init"] = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:eu-central-1:123456789012:function:bench")
                self.send_header("Content-Length", str(len(event_bytes)))
                self.end_headers()
                self.wfile.write(event_bytes)
            else:
                # Hold the second /next until the measurement is over.
                done.wait(10)
                self.send_response(500)
                self.end_headers()

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            marks["response"] = time.perf_counter()
            marks["body"] = body
            marks["ok"] = "/response" in self.path
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b"{}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "TABLE_NAME": "zayavka",
        "BATCH_TRACKER_FUNCTION": "zayavka-batch-tracker",
        "ZAYAVKA_API_KEYS": "coldstart-key-0123456789",
        "RUST_LOG": "warn",
    }
    # Bot and Okdesk settings pass through, so a configured bot's start-up is measured too.
    env.update({k: v for k, v in os.environ.items() if k.startswith(("TELEGRAM_", "OKDESK_"))})
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while "response" not in marks and time.time() < deadline and proc.poll() is None:
        time.sleep(0.0005)
    hwm_kb = None
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm_kb = int(line.split()[1])
    except FileNotFoundError:
        pass
    done.set()
    proc.kill()
    err = proc.communicate()[1]
    server.shutdown()
    if "response" not in marks or not marks.get("ok"):
        raise SystemExit(f"no response from {binary}: {err.decode(errors='replace')[-2000:]}")
    status = json.loads(marks["body"]).get("statusCode")
    return (marks["init"] - start) * 1000, (marks["response"] - start) * 1000, hwm_kb, status


def main():
    binary, event = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    with open(event, "rb") as f:
        event_bytes = f.read()
    results = [measure(binary, event_bytes) for _ in range(runs)]
    init = [r[0] for r in results]
    first = [r[1] for r in results]
    rss = [r[2] for r in results if r[2]]
    size = os.path.getsize(binary)
    print(f"binary {binary}: {size / 1024 / 1024:.2f} MiB, {runs} runs, status {results[0][3]}")
    print(f"  init (first /next):   median {statistics.median(init):7.2f} ms  p90 {sorted(init)[int(runs * 0.9) - 1]:7.2f} ms")
    print(f"  first response:       median {statistics.median(first):7.2f} ms  p90 {sorted(first)[int(runs * 0.9) - 1]:7.2f} ms")
    if rss:
        print(f"  peak RSS:             median {statistics.median(rss) / 1024:7.2f} MiB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Cold and warm starts of Lambda function binaries, measured locally, side by side.

A fake Lambda Runtime API on 127.0.0.1 hands each binary one event, then WARM more, and
records, from the moment the process is started:
  - init: the binary's first GET .../invocation/next (runtime, config and clients ready),
  - first: from handing it the first event to its POST .../response,
  - warm: the same for each later event (median),
and the process's peak resident memory (VmHWM) after the last response.

Each NAME=BINARY:EVENT is measured RUNS times, interleaved (one start of each in turn, so
the machine's load falls on all alike); the first one is the baseline the others' init and
first invocation are divided by. An event whose body has a "lead_id" gets a new one per
invocation, so every invocation stores a new lead.

--tls-moto ZAYAVKA (run with .venv/bin/python, which has moto and cryptography): starts moto
on a free port behind a TLS proxy whose certificate a fresh test CA signs, creates the
table and queues with `ZAYAVKA init-aws`, and points the binaries at it over https
(AWS_ENDPOINT_URL, SSL_CERT_FILE = the system's roots plus the test CA), so the first call
pays a real handshake and a real root store load.

TELEGRAM_*, OKDESK_*, BRIDGE_* and SSL_CERT_DIR pass through to the binaries. With SSL_CERT_DIR=/etc/ssl/certs
the roots are read as when no SSL_CERT_FILE is set (the bundle and the directory's files).

EVENT is a JSON file, or empty-sqs for an SQS batch of no messages (a worker's start-up).

--only-test-ca trusts only the test CA (what the system's roots cost); --plain talks to moto
over http (what TLS costs).

--ssm NAME,... (with --tls-moto): those specs read their secrets as a deployed function does,
from Parameter Store at start (ZAYAVKA_SECRETS_PATH): the script stores every secret it
would otherwise put in the environment (ZAYAVKA_API_KEYS, and the TELEGRAM_*/OKDESK_* secrets
passed through) with `ZAYAVKA secrets set` under /zayavka/coldstart/, and gives those specs
none of them in their environment. The other specs get them in the environment, as before.

usage: scripts/coldstart.py [--runs N] [--warm W] [--tls-moto ZAYAVKA [--only-test-ca|--plain]
                            [--ssm NAME,...]] NAME=BINARY:EVENT ...
       scripts/coldstart.py BINARY EVENT.json [RUNS]       (one binary, as before)
"""
import argparse
import http.server
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

BASE_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
    "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    "AWS_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "TABLE_NAME": "zayavka",
    "QUEUE_NAME_PREFIX": "zayavka-",
    "BATCH_TRACKER_FUNCTION": "zayavka-batch-tracker",
    # The sample events' key and the bench's own.
    "ZAYAVKA_API_KEYS": "coldstart-key-0123456789,test-key-0123456789abcdef",
    "RUST_LOG": "warn",
}


# An SQS batch of no messages: a worker's start-up without the services its messages call.
EMPTY_SQS = "empty-sqs"


def cpu_ns(pid):
    """CPU time the process has used, in ns: every thread's run time (schedstat)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def varied(event_bytes):
    """The event with a new lead_id in its body, when it has one."""
    event = json.loads(event_bytes)
    try:
        body = json.loads(event.get("body") or "")
    except (TypeError, ValueError):
        return event_bytes
    if not isinstance(body, dict) or "lead_id" not in body:
        return event_bytes
    body["lead_id"] = f"coldstart-{uuid.uuid4().hex[:16]}"
    event["body"] = json.dumps(body, ensure_ascii=False)
    return json.dumps(event, ensure_ascii=False).encode()


class QuietServer(http.server.ThreadingHTTPServer):
    # The binary is killed with its keep-alive connection open: not an error.
    def handle_error(self, request, client_address):
        pass


# The stack whose secrets the --ssm specs read.
SSM_STACK = "coldstart"


def passed_through():
    """Bot, Okdesk and bridge settings pass through, so a configured bot's start-up is measured too,
    and SSL_CERT_DIR, to read the roots as a system without SSL_CERT_FILE does."""
    return {k: v for k, v in os.environ.items() if k.startswith(("TELEGRAM_", "OKDESK_", "BRIDGE_", "SSL_CERT_DIR"))}


def store_secrets(zayavka_cli, moto_env):
    """Stores every secret a spec would get in its environment in moto's Parameter Store,
    as a deployer does; returns the names of the secrets (the catalogue's)."""
    env = {**os.environ, **BASE_ENV, **moto_env}
    listed = subprocess.run([zayavka_cli, "secrets", "list", "--stack", SSM_STACK], env=env,
                            check=True, capture_output=True, text=True).stdout
    names = {line.split()[0] for line in listed.splitlines()[1:] if line.strip()}
    for name, value in {**BASE_ENV, **passed_through()}.items():
        if name in names:
            subprocess.run([zayavka_cli, "secrets", "set", name, "--stack", SSM_STACK], env=env,
                           input=value, text=True, check=True, stdout=subprocess.DEVNULL)
    return names


def ssm_env(secret_names):
    """What a deployed function has in its environment: where its secrets are, which bots
    are on, and no secret."""
    bots = [b for b in ("main", "support", "staff", "bridge")
            if os.environ.get(f"TELEGRAM_{b.upper()}_BOT_TOKEN")]
    return {"ZAYAVKA_SECRETS_PATH": f"/zayavka/{SSM_STACK}/", "TELEGRAM_BOTS": ",".join(bots),
            "_SECRET_NAMES": ",".join(sorted(secret_names))}


def measure(binary, event_bytes, warm, extra_env):
    """One start: (init ms, first ms, [warm ms], peak RSS KiB, first answer's status,
    init CPU ms, first CPU ms, [warm CPU ms])."""
    events = [varied(event_bytes) for _ in range(1 + warm)]
    handed, answered, bodies = [], [], []
    done = threading.Event()
    lock = threading.Lock()
    marks = {}
    cpu_handed, cpu_answered = [], []
    pid = {}

    class Runtime(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            with lock:
                if "init" not in marks:
                    marks["init"] = time.perf_counter()
                    marks["init_cpu"] = cpu_ns(pid["pid"])
                i = len(handed)
            if "next" not in self.path or i >= len(events):
                # Hold the next /next until the measurement is over.
                done.wait(10)
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = events[i]
            cpu_handed.append(cpu_ns(pid["pid"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{i}")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                             "arn:aws:lambda:eu-central-1:123456789012:function:bench")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            with lock:
                handed.append(time.perf_counter())

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            now = time.perf_counter()
            cpu_answered.append(cpu_ns(pid["pid"]))
            with lock:
                if "/response" not in self.path:
                    marks["error"] = body
                answered.append(now)
                bodies.append(body)
            self.send_response(202)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = QuietServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"PATH": os.environ.get("PATH", ""), **BASE_ENV, **extra_env,
           "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}"}
    env.update(passed_through())
    # A spec reading its secrets from Parameter Store has none in its environment.
    secret_names = env.pop("_SECRET_NAMES", None)
    for name in (secret_names.split(",") if secret_names else []):
        env.pop(name, None)
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pid["pid"] = proc.pid
    deadline = time.time() + 30
    while len(answered) < len(events) and time.time() < deadline and proc.poll() is None \
            and "error" not in marks:
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
    if len(answered) < len(events) or "error" in marks:
        raise SystemExit(f"{binary}: {len(answered)} of {len(events)} answered; "
                         f"{marks.get('error', b'').decode(errors='replace')} "
                         f"{err.decode(errors='replace')[-2000:]}")
    took = [(a - h) * 1000 for h, a in zip(handed, answered)]
    cpu = [(a - h) / 1e6 for h, a in zip(cpu_handed, cpu_answered)]
    answer = json.loads(bodies[0] or b"null")
    # An HTTP function's status code; a worker's count of failed messages; "-" otherwise.
    status = (answer.get("statusCode") or f"{len(answer.get('batchItemFailures', []))}f"
              if isinstance(answer, dict) else "-")
    return ((marks["init"] - start) * 1000, took[0], took[1:], hwm_kb, status,
            marks["init_cpu"] / 1e6, cpu[0], cpu[1:])


class TlsMoto:
    """moto on a free port, behind a TLS proxy signed by a throwaway CA."""

    def __init__(self, zayavka_cli, only_test_ca=False, plain=False):
        self.plain = plain
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        from moto.server import ThreadedMotoServer
        import logging
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        import datetime
        import ipaddress

        self.dir = tempfile.mkdtemp(prefix="coldstart-")
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zayavka coldstart test CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False,
                                           encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                    critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(ca_key, hashes.SHA256()))
        pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
        cert_file = os.path.join(self.dir, "server.pem")
        key_file = os.path.join(self.dir, "server.key")
        with open(cert_file, "wb") as f:
            f.write(pem(leaf))
        with open(key_file, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        # What a Lambda image trusts (its system roots), plus the test CA.
        self.bundle = os.path.join(self.dir, "roots.pem")
        system = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
        with open(self.bundle, "wb") as out:
            if not only_test_ca:
                with open(system, "rb") as f:
                    out.write(f.read())
            out.write(pem(ca))

        moto_port = self.moto_port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        self.moto.start()
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, args=(moto_port,), daemon=True).start()
        env = {**os.environ, **BASE_ENV, "AWS_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}"}
        subprocess.run([zayavka_cli, "init-aws"], env=env, check=True, stdout=subprocess.DEVNULL)

    def accept(self, moto_port):
        while True:
            conn, _ = self.listener.accept()
            threading.Thread(target=self.relay, args=(conn, moto_port), daemon=True).start()

    def relay(self, conn, moto_port):
        try:
            tls = self.tls.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", moto_port))

        def pipe(a, b):
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, tls), daemon=True).start()
        pipe(tls, upstream)

    def plain_env(self):
        """moto itself, for the script's own set-up calls."""
        return {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.moto_port}", "AWS_REGION": "us-east-1"}

    def env(self):
        if self.plain:
            return {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.moto_port}", "AWS_REGION": "us-east-1"}
        return {"AWS_ENDPOINT_URL": f"https://localhost:{self.port}", "AWS_REGION": "us-east-1",
                "SSL_CERT_FILE": self.bundle}

    def stop(self):
        self.moto.stop()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def p90(values):
    return sorted(values)[max(0, int(len(values) * 0.9) - 1)]


def main():
    argv = sys.argv[1:]
    if argv and not argv[0].startswith("--") and "=" not in argv[0]:
        # The one-binary form: BINARY EVENT [RUNS].
        argv = ["--runs", argv[2] if len(argv) > 2 else "20", "--warm", "0",
                f"{os.path.basename(argv[0])}={argv[0]}:{argv[1]}"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--tls-moto", metavar="ZAYAVKA")
    ap.add_argument("--only-test-ca", action="store_true",
                    help="trust only the test CA (no system roots): what the root store costs")
    ap.add_argument("--plain", action="store_true",
                    help="talk to moto over plain http (what TLS costs)")
    ap.add_argument("--ssm", default="", metavar="NAME,...",
                    help="these specs read their secrets from Parameter Store (needs --tls-moto)")
    ap.add_argument("specs", nargs="+", metavar="NAME=BINARY:EVENT")
    args = ap.parse_args(argv)
    specs = []
    for spec in args.specs:
        name, rest = spec.split("=", 1)
        binary, event = rest.rsplit(":", 1)
        if event == EMPTY_SQS:
            specs.append((name, binary, b'{"Records": []}'))
            continue
        with open(event, "rb") as f:
            specs.append((name, binary, f.read()))
    moto = TlsMoto(args.tls_moto, args.only_test_ca, args.plain) if args.tls_moto else None
    extra = moto.env() if moto else {}
    from_ssm = {n for n in args.ssm.split(",") if n}
    if from_ssm and not moto:
        raise SystemExit("--ssm needs --tls-moto")
    unknown = from_ssm - {name for name, _, _ in specs}
    if unknown:
        raise SystemExit(f"--ssm names no spec: {', '.join(sorted(unknown))}")
    ssm_extra = {**extra, **ssm_env(store_secrets(args.tls_moto, moto.plain_env()))} if from_ssm else {}
    results = {name: [] for name, _, _ in specs}
    try:
        for _ in range(args.runs):
            for name, binary, event in specs:
                results[name].append(measure(binary, event, args.warm,
                                             ssm_extra if name in from_ssm else extra))
    finally:
        if moto:
            moto.stop()
    base = specs[0][0]
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    base_init = med(results[base], 0)
    base_first = med(results[base], 1)
    print(f"{args.runs} interleaved starts each, {args.warm} warm invocations after the first; "
          f"{('moto over plain http' if args.plain else 'moto over TLS') if moto else 'no AWS endpoint'}; "
          f"{('secrets from Parameter Store: ' + ', '.join(sorted(from_ssm)) + '; ') if from_ssm else ''}x: ratio to {base}. Wall time, "
          "and CPU time (all threads), which a 128 MB function gets 128/1769 of a vCPU for")
    print(f"{'':20} {'size':>9} {'status':>6} | {'init':>8} {'x':>5} {'cpu':>7} | {'first':>8} {'x':>6} "
          f"{'cpu':>7} | {'warm':>8} {'cpu':>7} | {'first/warm':>10} {'cpu':>5} | {'RSS':>8}")
    for name, binary, _ in specs:
        rs = results[name]
        init, first = med(rs, 0), med(rs, 1)
        init_cpu, first_cpu = med(rs, 5), med(rs, 6)
        warm = [w for r in rs for w in r[2]]
        warm_cpu = [w for r in rs for w in r[7]]
        warm_med = statistics.median(warm) if warm else float("nan")
        warm_cpu_med = statistics.median(warm_cpu) if warm_cpu else float("nan")
        rss = [r[3] for r in rs if r[3]]
        size = os.path.getsize(binary) / 1024 / 1024
        print(f"{name:20} {size:5.2f} MiB {rs[0][4]!s:>6} | {init:6.2f}ms {init / base_init:5.2f} "
              f"{init_cpu:5.2f}ms | {first:6.2f}ms {first / base_first:6.2f} {first_cpu:5.2f}ms | "
              f"{warm_med:6.2f}ms {warm_cpu_med:5.2f}ms | {first / warm_med:10.2f} "
              f"{first_cpu / warm_cpu_med:5.2f} | {statistics.median(rss) / 1024 if rss else float('nan'):5.2f}MiB")
        print(f"{'':20} p90: init {p90([r[0] for r in rs]):.2f} ms, first {p90([r[1] for r in rs]):.2f} ms"
              + (f", warm {p90(warm):.2f} ms" if warm else "")
              + f"; at 128 MB the CPU alone would take init {init_cpu * 1769 / 128:.0f} ms, "
              f"first {first_cpu * 1769 / 128:.0f} ms"
              + (f", warm {warm_cpu_med * 1769 / 128:.0f} ms" if warm_cpu else ""))

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The design card's Docker-free paths, run for real against moto on 127.0.0.1:

1. `cargo lambda watch` (the Lambda runtime emulator) + `cargo lambda invoke --data-file
   events/...` for one HTTP function (lead-submit: a lead is accepted and its jobs land on
   the integration queues) and one SQS worker (notification-worker: the admins' e-mail is
   sent through SES), each answer checked;
2. `cargo lambda deploy` updating one function's code in an existing "stack" (a function
   created in moto with its role and environment, as CloudFormation would), checking that
   the code changed and the role and environment stayed.

Run by .ci/run after scripts/package (step 2 uploads its arm64 release build). Needs .venv
(moto, boto3, from scripts/test) and .venv-package (cargo-lambda, from scripts/package).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK = "local"
KEY = "test-key-0123456789abcdef"  # the samples' Authorization header


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


LOGS = ROOT / "target" / "lambda-local"


def wait_for(what, check, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    fail(f"{what}: not ready after {seconds} s")


def port_open(port):
    with socket.create_connection(("127.0.0.1", port), 1):
        return True


def fail(message):
    # What the emulator and moto said is usually the reason.
    for log in ("watch.log", "moto.log"):
        path = LOGS / log
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-30:]
            print(f"--- last lines of {path}:", *tail, sep="\n", file=sys.stderr)
    sys.exit(f"lambda-local: {message}")


def main():
    moto_port, watch_port = free_port(), free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    logs = LOGS
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": moto_url,
            "TABLE_NAME": f"{STACK}-table",
            "QUEUE_NAME_PREFIX": f"{STACK}-",
            "BATCH_TRACKER_FUNCTION": f"{STACK}-batch-tracker",
            "ZAYAVKA_API_KEYS": KEY,
            "MAIL_FROM": "noreply@zayavka.test",
            "NOTIFY_EMAILS": "admin@zayavka.test",
            "RUST_LOG": "warn",
        }
    )
    env["PATH"] = f"{ROOT / '.venv-package' / 'bin'}:{env['PATH']}"
    children = []

    def stop():
        for p in children:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)

    try:
        children.append(
            subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                stdout=open(logs / "moto.log", "w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        wait_for("moto", lambda: urllib.request.urlopen(f"{moto_url}/moto-api/data.json", timeout=1), 30)
        run(["cargo", "run", "-q", "-p", "zayavka-cli", "--", "init-aws"], env)
        import boto3

        aws = dict(region_name="us-east-1", endpoint_url=moto_url, aws_access_key_id="testing", aws_secret_access_key="testing")
        boto3.client("ses", **aws).verify_email_identity(EmailAddress="noreply@zayavka.test")

        # 1. watch + invoke.
        children.append(
            subprocess.Popen(
                ["cargo", "lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", str(watch_port), "--timeout", "300"],
                cwd=ROOT,
                env=env,
                stdout=open(logs / "watch.log", "w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        wait_for("cargo lambda watch", lambda: port_open(watch_port), 120)
        answer = invoke("lead-submit", "events/lead-submit/send-batch.json", watch_port, env)
        if answer.get("statusCode") != 202:
            fail(f"lead-submit answered {answer}")
        body = json.loads(answer["body"])
        queued = count_messages(boto3.client("sqs", **aws), f"{STACK}-integration-")
        print(f"lead-submit: 202, lead {body.get('lead_id')}, {queued} jobs queued")
        if queued < 1:
            fail("lead-submit queued no job")

        answer = invoke("notification-worker", "events/notification-worker/sqs-notification.json", watch_port, env)
        if answer.get("batchItemFailures") != []:
            fail(f"notification-worker answered {answer}")
        dump = json.load(urllib.request.urlopen(f"{moto_url}/moto-api/data.json"))
        sent = dump.get("ses", {}).get("Message", [])
        to_admin = [m for m in sent if "admin@zayavka.test" in m.get("destinations", {}).get("ToAddresses", [])]
        print(f"notification-worker: no failures, {len(to_admin)} e-mail to the admins in SES")
        if not to_admin:
            fail(f"no e-mail reached SES: {sent}")

        # 2. cargo lambda deploy into an existing function: code replaced, role and
        # environment kept.
        iam = boto3.client("iam", **aws)
        role = iam.create_role(
            RoleName=f"{STACK}-lead-submit-role",
            AssumeRolePolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
            ),
        )["Role"]["Arn"]
        lam = boto3.client("lambda", **aws)
        import io
        import zipfile

        old = io.BytesIO()
        with zipfile.ZipFile(old, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\necho old\n")
        stack_env = {"TABLE_NAME": f"{STACK}-table", "ZAYAVKA_API_KEYS": KEY, "BATCH_TRACKER_FUNCTION": f"{STACK}-batch-tracker"}
        name = f"{STACK}-lead-submit"
        before = lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Architectures=["arm64"],
            Handler="bootstrap",
            Role=role,
            Code={"ZipFile": old.getvalue()},
            Environment={"Variables": stack_env},
            MemorySize=128,
            Timeout=10,
        )
        run(
            ["cargo", "lambda", "deploy", "--endpoint-url", moto_url, "--region", "us-east-1", "--binary-name", "lead-submit", name],
            env,
        )
        after = lam.get_function_configuration(FunctionName=name)
        if after["CodeSha256"] == before["CodeSha256"]:
            fail("cargo lambda deploy did not replace the code")
        if after["Role"] != role:
            fail(f"the role changed: {after['Role']}")
        if after.get("Environment", {}).get("Variables") != stack_env:
            fail(f"the environment changed: {after.get('Environment')}")
        if after["MemorySize"] != 128 or after["Timeout"] != 10:
            fail(f"the settings changed: {after['MemorySize']} MB, {after['Timeout']} s")
        print(f"cargo lambda deploy: {name} has the new code ({after['CodeSize']} bytes); role, environment and settings kept")
    finally:
        stop()


def run(cmd, env, timeout=900):
    try:
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"{' '.join(cmd)} did not finish in {timeout} s")
    if result.returncode != 0:
        fail(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def invoke(function, data_file, port, env):
    # The first invocation of a function builds it.
    out = run(
        ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", str(port), "--data-file", data_file, "--output-format", "json", function],
        env,
        timeout=600,
    )
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        fail(f"{function} answered {out!r}")


def count_messages(sqs, prefix):
    total = 0
    for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        if "-dlq" in url:
            continue
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        total += int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return total


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A local DynamoDB-compatible endpoint (moto_server on 127.0.0.1) with the probe's table, for
the io workload off AWS.

As a module: `with LocalDynamoDB() as db:` starts moto_server on a free port, creates the table
(partition key `pk`, as in template.yaml) and stops the server on exit; `db.env` is the
environment a deployed function would have, pointed at it (TABLE_NAME, AWS_ENDPOINT_URL_DYNAMODB,
dummy credentials, no shared config files or instance metadata).

As a command: `local_dynamodb.py [--delay-ms N] -- <command> [args...]` runs the command in
that environment and exits with its status, e.g.
    scripts/local_dynamodb.py -- target/release/lambda-probe run bench-payloads/io-sequential.json
With `--delay-ms N` the endpoint is a proxy (delay_proxy.py) that holds every answer back N ms:
a server some distance away instead of one on the same machine.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TABLE = "lambda-probe-local"
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, limit_s=60):
    """A TCP connect, not an HTTP request: nothing is asked of the server before it is up."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def tool(name):
    """A tool from this interpreter's venv first (scripts/setup.sh installs moto there)."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name) or name


class LocalDynamoDB:
    def __init__(self, table=TABLE):
        self.table = table
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {
            "TABLE_NAME": table,
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": REGION,
            # Never a user's real profile or credentials: only the dummy ones above.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        self._server = None

    def client(self):
        import boto3  # from the project's .venv (scripts/setup.sh)

        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def __enter__(self):
        log = tempfile.TemporaryFile()
        self._server = subprocess.Popen(
            [tool("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            if not wait_for_port(self.port):
                log.seek(0)
                raise RuntimeError(f"moto_server did not start:\n{log.read().decode()}")
            self.client().create_table(
                TableName=self.table,
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self._server is not None:
            try:
                os.killpg(self._server.pid, 15)
            except ProcessLookupError:
                pass
            self._server.wait(timeout=10)
            self._server = None
        return False


def main(argv):
    usage = "usage: local_dynamodb.py [--delay-ms N] -- <command> [args...]"
    delay_ms = None
    if argv[:1] == ["--delay-ms"] and len(argv) > 1:
        try:
            delay_ms = float(argv[1])
        except ValueError:
            sys.exit(f"--delay-ms: {argv[1]!r} is not a number of ms\n{usage}")
        if not 0 <= delay_ms <= 10_000:
            sys.exit(f"--delay-ms must be in 0..=10000\n{usage}")
        argv = argv[2:]
    if not argv or argv[0] != "--" or len(argv) < 2:
        sys.exit(usage)
    with LocalDynamoDB() as db:
        env = {**os.environ, **db.env}
        if delay_ms is None:
            print(f"local DynamoDB (moto) at {db.endpoint}, table {db.table}", file=sys.stderr)
            return subprocess.run(argv[1:], env=env).returncode
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from delay_proxy import DelayProxy

        with DelayProxy(db.port, delay_ms) as proxy:
            env["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{proxy.port}"
            print(
                f"local DynamoDB (moto) at {db.endpoint}, table {db.table}, behind a "
                f"{delay_ms:g} ms delay at 127.0.0.1:{proxy.port}",
                file=sys.stderr,
            )
            return subprocess.run(argv[1:], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The contract check: schemathesis against a live frontrow, with an ACTIVE queue token.

Starts the given frontrow binary on a free port with the embedded store and the demo catalogue
(queue caps off, so a token is admitted on the next tick), takes a token for user 1 and waits
until it is ACTIVE, then runs `schemathesis run` on the served OpenAPI document with every check,
the settings of schemathesis.toml beside this file, and `Authorization: Bearer <token>`.

Exits with schemathesis' status: non-zero on any failure, and also when the server cannot start,
the token is never admitted, or schemathesis is missing. Usage (`make test-contract` does this):

    python3 tests/contract/run.py FRONTROW_BINARY SCHEMATHESIS [extra schemathesis options]
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STARTUP_SECONDS = 30
ADMISSION_SECONDS = 30
USER_ID = 1


def fail(message, log_path=None):
    print(f"contract check: {message}", file=sys.stderr)
    if log_path and os.path.exists(log_path):
        with open(log_path, encoding="utf-8", errors="replace") as log:
            print("--- server log (tail) ---\n" + log.read()[-8000:], file=sys.stderr)
    sys.exit(1)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(base, method, path, body=None, token=None):
    """One request; the status and the parsed JSON body (None when not JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, None


def wait_until(deadline_seconds, server, log_path, what, probe):
    """Polls `probe` until it returns a value; fails if the server exits or time runs out."""
    deadline = time.monotonic() + deadline_seconds
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            fail(f"the server exited with {server.returncode} before {what}", log_path)
        try:
            found = probe()
            if found is not None:
                return found
            last = "not yet"
        except OSError as error:
            last = str(error)
        time.sleep(0.1)
    fail(f"timed out after {deadline_seconds}s waiting for {what} ({last})", log_path)


def active_token(base, server, log_path):
    status, issued = call(base, "POST", "/api/token", {"userId": USER_ID})
    if status != 200 or not issued:
        fail(f"POST /api/token answered {status}: {issued}", log_path)
    token = issued["token"]

    def admitted():
        status, view = call(base, "GET", "/api/token", token=token)
        return token if status == 200 and view and view.get("status") == "ACTIVE" else None

    return wait_until(ADMISSION_SECONDS, server, log_path, "an ACTIVE token", admitted)


def main():
    if len(sys.argv) < 3:
        fail("usage: run.py FRONTROW_BINARY SCHEMATHESIS [schemathesis options]")
    binary, schemathesis, extra = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3:]
    for path, what in ((binary, "frontrow binary"), (schemathesis, "schemathesis")):
        if not os.access(path, os.X_OK):
            fail(f"no {what} at {path}")
    work = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(binary))), "contract")
    os.makedirs(work, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Only these settings: nothing from the caller's shell (a DATABASE_URL, say) leaks in.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HTTP_ADDR": f"127.0.0.1:{port}",
        "SEED_DEMO": "1",
        "QUEUE_MAX_ACTIVE": "0",
        "QUEUE_ADMIT_PER_TICK": "0",
        "QUEUE_TICK_MS": "50",
        "QUEUE_ACTIVE_TTL_SECONDS": "3600",
        "RUST_LOG": "error",
        # The box office is on, so its operations answer as documented (401 without its secret,
        # which this run does not send) rather than 404 as when it is off.
        "ADMIN_TOKEN": "contract-check-box-office-secret-0123456789",
    }
    with tempfile.NamedTemporaryFile("w+b", prefix="frontrow-contract-", suffix=".log", delete=False) as log:
        log_path = log.name
        server = subprocess.Popen([binary], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_until(STARTUP_SECONDS, server, log_path, "GET /health",
                   lambda: True if call(base, "GET", "/health")[0] == 200 else None)
        token = active_token(base, server, log_path)
        command = [
            schemathesis, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run",
            f"{base}/api-docs/openapi.json", "--header", f"Authorization: Bearer {token}", *extra,
        ]
        print(f"contract check: {' '.join(command[:5])} … against {base}", flush=True)
        result = subprocess.run(command, cwd=work, env={**os.environ, "CONTRACT_DIR": HERE}, check=False)
        if server.poll() is not None:
            fail(f"the server died during the run (exit {server.returncode})", log_path)
        if result.returncode != 0:
            fail(f"schemathesis failed (exit {result.returncode}); see its report above")
        print("contract check: schemathesis passed with zero failures")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    os.unlink(log_path)


if __name__ == "__main__":
    main()

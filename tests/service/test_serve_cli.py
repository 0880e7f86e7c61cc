"""`compliance serve` as an operator runs it: keys made, listed and revoked from the command
line, and the service started as its own process, called, and stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from compliance import Send
from compliance.client import Client
from tests.pg import free_port
from tests.service.conftest import SALE, TWILIO_TOKEN, US

pytest.importorskip("uvicorn", reason="the server extra is not installed")


def test_keys_are_made_listed_and_revoked(cli, tmp_path):
    ledger = str(tmp_path / "ledger.db")
    assert cli(["ledger", "init", "--ledger", ledger]).code == 0
    made = cli(["serve", "keys", "create", "--name", "billing", "--scope", "decide",
                "--scope", "consent", "--by", "jane@example.com", "--ledger", ledger])  # fmt: skip
    assert made.code == 0, made.err
    token = made.out.strip()
    assert token.startswith("cmpl_") and "\n" not in token  # only the token on stdout
    assert "shown once" in made.err and "key_" in made.err
    as_json = cli(["serve", "keys", "create", "--name", "ops", "--scope", "admin", "--by", "jane",
                   "--json", "--ledger", ledger])  # fmt: skip
    ops = json.loads(as_json.out)
    assert ops["token"].startswith("cmpl_") and ops["scopes"] == ["admin"]
    listed = cli(["serve", "keys", "list", "--ledger", ledger])
    assert "billing  [consent,decide]" in listed.out and "active" in listed.out
    assert token not in listed.out and ops["token"] not in listed.out
    key_id = made.err.split("key ", 1)[1].split(" ", 1)[0]
    revoked = cli(["serve", "keys", "revoke", key_id, "--by", "jane", "--reason", "rotated",
                   "--ledger", ledger])  # fmt: skip
    assert revoked.code == 0 and f"revoked {key_id}" in revoked.out
    lines = cli(["serve", "keys", "list", "--json", "--ledger", ledger]).out.splitlines()
    assert [json.loads(line)["revoked"] for line in lines] == [True, False]
    again = cli(["serve", "keys", "revoke", key_id, "--by", "jane", "--reason", "x",
                 "--ledger", ledger])  # fmt: skip
    assert again.code == 2 and "revoked already" in again.err and "Traceback" not in again.err
    unknown = cli(["serve", "keys", "create", "--name", "x", "--scope", "root", "--by", "j",
                   "--ledger", ledger])  # fmt: skip
    assert unknown.code == 2 and "'root' is not one of" in unknown.err
    assert cli(["audit", "verify", "--ledger", ledger]).code == 0


def test_a_bad_public_url_is_refused_before_anything_starts(cli, tmp_path):
    run = cli(["serve", "--repo", str(US), "--ledger", str(tmp_path / "x.db"),
               "--public-url", "gate.example.com"])  # fmt: skip
    assert run.code == 2 and "must start with https://" in run.err
    assert not (tmp_path / "x.db").exists()
    # Twilio's webhook without the URL Twilio signs would trust each request's Host header
    run = cli(["serve", "--repo", str(US), "--ledger", str(tmp_path / "x.db")],
              env={"TWILIO_AUTH_TOKEN": "t"})  # fmt: skip
    assert run.code == 2 and "--public-url" in run.err and "Host" in run.err


def _wait(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_service_runs_as_a_process_and_stops_cleanly(tmp_path):
    ledger = str(tmp_path / "ledger.db")
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    env.pop("COMPLIANCE_DB", None)
    run = [sys.executable, "-m", "compliance"]
    subprocess.run([*run, "ledger", "init", "--ledger", ledger], check=True, env=env)
    token = subprocess.run(
        [*run, "serve", "keys", "create", "--name", "t", "--scope", "decide", "--by", "tests",
         "--ledger", ledger],
        check=True, env=env, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [
            *run,
            "serve",
            "--repo",
            str(US),
            "--ledger",
            ledger,
            "--port",
            str(port),
            "--public-url",
            f"http://127.0.0.1:{port}",
        ],  # fmt: skip
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/healthz")
        with Client(f"http://127.0.0.1:{port}", token=token) as client:
            decision = client.check(Send(to="+13055550123", template=SALE))
            assert "consent.missing" in decision.codes and decision.id is not None
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    assert "webhooks: twilio" in err and "templates" in err
    assert "Traceback" not in err
    verified = subprocess.run(
        [*run, "audit", "verify", "--ledger", ledger], env=env, capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

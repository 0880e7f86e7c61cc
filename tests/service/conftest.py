"""The service under test: the app around a gate on the example repo, on either backend, with
one key per scope, driven through FastAPI's TestClient (the ASGI app in process, over httpx)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from compliance import Gate  # noqa: E402
from compliance.service.app import Settings, create_app  # noqa: E402
from tests.conftest import ROOT, Clock  # noqa: E402

US = ROOT / "examples" / "us"
AT = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.timezone.utc)  # 13:00 in New York
SALE = "10dlc-weekend-sale"
TWILIO_TOKEN = "12345"
META_SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-me"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Service:
    gate: Gate
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    where: Any = None

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def post(self, path: str, body: Any, scope: str = "decide", **kw: Any) -> Any:
        return self.client.post(path, json=body, headers=self.auth(scope), **kw)

    def get(self, path: str, scope: str = "consent", **kw: Any) -> Any:
        return self.client.get(path, headers=self.auth(scope), **kw)

    def entries(self) -> int:
        return self.gate._db.entry_count()


def settings(**overrides: Any) -> Settings:
    from compliance.service.webhooks import standard_key

    base = {
        "public_url": "https://gate.example.com",
        "twilio_token": TWILIO_TOKEN,
        "whatsapp_secret": META_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "standard_key": standard_key(STANDARD_SECRET),
    }
    return Settings(**{**base, **overrides})


def make_service(
    where: Any, clock: Clock, busy_timeout: float | None = None, **overrides: Any
) -> Service:
    extra = {} if busy_timeout is None else {"busy_timeout": busy_timeout}
    gate = Gate.open(repo=US, ledger=where, create=True, clock=clock, **extra)
    tokens = {}
    for scope in ("decide", "consent", "admin"):
        _, tokens[scope] = gate._db.create_key(
            name=f"{scope}-key", scopes=[scope], by="ops@example.com"
        )
    client = TestClient(create_app(gate, settings(**overrides)), raise_server_exceptions=False)
    return Service(gate, client, tokens, where)


@pytest.fixture
def clock() -> Clock:
    return Clock(AT)


@pytest.fixture
def service(ledger_at, clock):
    made = make_service(ledger_at, clock)
    yield made
    made.client.close()
    made.gate.close()

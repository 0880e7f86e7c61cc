"""compliance.client against a real server (uvicorn on a free port, in a thread): the same
Decision the library answers, fail closed when the service cannot answer, and a ClientError for
a request the service refuses as wrong."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest

from compliance import Send
from compliance.client import GATE_UNREACHABLE, Client, ClientError
from compliance.service.app import create_app
from tests.pg import free_port
from tests.service.conftest import AT, SALE, make_service, settings

uvicorn = pytest.importorskip("uvicorn", reason="the server extra is not installed")
FL = "+13055550123"


class Running:
    def __init__(self, app) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def running(ledger_at, clock):
    made = make_service(ledger_at, clock)
    server = Running(create_app(made.gate, settings()))
    yield made, server
    server.stop()
    made.client.close()
    made.gate.close()


def test_the_client_answers_what_the_library_answers(running):
    made, server = running
    made.gate.ledger.grant(subject=FL, channel="sms", scope="us-sms-offers", source="web", at=AT)
    with Client(server.url, token=made.tokens["decide"]) as client:
        decision = client.check(Send(to=FL, template=SALE, at=AT))
        assert decision.allowed and decision.id is not None
        # the same send through the library: the same decision (its own audit entry aside)
        local = made.gate.check(Send(to=FL, template=SALE, at=AT))
        assert {**decision.to_dict(), "id": 0} == {**local.to_dict(), "id": 0}
        batch = client.check_many([Send(to=FL, template=SALE, at=AT)] * 3)
        # Florida's three a day: the third allowed, then the cap
        assert [d.codes for d in batch] == [[], ["frequency_cap"], ["frequency_cap"]]
        assert batch[1].reasons[0].citation and batch[1].send.to == FL
        # quiet hours: a defer carries its not_before as an aware datetime
        night = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.timezone.utc)  # 22:00 in Miami
        made.gate.ledger.grant(subject="+13055550124", channel="sms", scope="us-sms-offers", source="web", at=AT)  # fmt: skip
        deferred = client.check(Send(to="+13055550124", template=SALE, at=night))
        assert deferred.outcome == "defer" and deferred.not_before.tzinfo is not None
        assert client.health()["status"] == "ok"


def test_a_batch_over_1000_is_sent_in_parts(running):
    made, server = running
    sends = [Send(to=f"+1305555{n:04d}", template=SALE, at=AT) for n in range(1500)]
    with Client(server.url, token=made.tokens["decide"]) as client:
        found = client.check_many(sends)
    assert len(found) == 1500 and all(d.codes == ["consent.missing"] for d in found)
    assert [d.send.to for d in found] == [s.to for s in sends]


def test_a_refused_request_raises_and_names_why(running):
    made, server = running
    with Client(server.url, token=made.tokens["consent"]) as client:
        with pytest.raises(ClientError, match="lacks the 'decide' scope") as caught:
            client.check(Send(to=FL, template=SALE))
        assert caught.value.status == 403
    with Client(server.url, token=made.tokens["decide"]) as client:
        with pytest.raises(ClientError) as caught:
            client.check(Send(to=FL, template=SALE, timezone="Mars/Base"))
        assert caught.value.status == 422
        with pytest.raises(TypeError):
            client.check("+13055550123")


def test_no_answer_is_a_deny(running):
    made, server = running
    server.stop()
    with Client(server.url, token=made.tokens["decide"], timeout=1) as client:
        decision = client.check(Send(to=FL, template=SALE))
        assert decision.outcome == "deny" and decision.codes == [GATE_UNREACHABLE]
        assert decision.id is None
        assert [d.codes for d in client.check_many([Send(to=FL, template=SALE)] * 2)] == [
            [GATE_UNREACHABLE]
        ] * 2
    with pytest.raises(ValueError):
        Client("gate.internal:8000", token="x")


class Canned:
    """A server that answers every request with one canned status and body (a mock, a proxy,
    a misrouted base URL), counting the requests it got."""

    def __init__(self, status: int, body: bytes) -> None:
        import http.server

        outer = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                outer.requests += 1
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ALLOW = {"outcome": "allow", "allowed": True, "reasons": [], "warnings": [], "not_before": None, "id": 7}  # fmt: skip


@pytest.mark.parametrize(
    "status, body",
    [
        (200, {}),
        (200, {"outcome": "allow"}),  # not a whole decision
        (200, {**ALLOW, "id": None}),  # an allow nobody audited
        (200, {**ALLOW, "allowed": False}),
        (200, {**ALLOW, "reasons": [{"x": 1}]}),
        (200, {**ALLOW, "outcome": "maybe"}),
        (200, {**ALLOW, "not_before": "garbage"}),
        (
            200,
            {
                "outcome": "deny",
                "allowed": False,
                "reasons": [],
                "warnings": [],
                "not_before": None,
                "id": 3,
            },
        ),  # fmt: skip
        (200, [ALLOW]),
        (408, {"detail": "proxy timeout"}),
        (429, {"detail": "slow down"}),
        (499, {}),
        (302, {}),
        (502, {}),
        (200, "deep"),  # nested too deep to parse
    ],
)
def test_anything_but_a_whole_decision_is_a_deny(status, body):
    raw = b"[" * 100_000 + b"]" * 100_000 if body == "deep" else json.dumps(body).encode()
    canned = Canned(status, raw)
    try:
        with Client(canned.url, token="cmpl_x") as client:
            decision = client.check(Send(to=FL, template=SALE))
            assert decision.outcome == "deny" and decision.codes == [GATE_UNREACHABLE]
            batch = client.check_many([Send(to=FL, template=SALE)] * 2)
            assert [d.codes for d in batch] == [[GATE_UNREACHABLE]] * 2
    finally:
        canned.stop()


def test_a_whole_allow_is_believed_and_a_batch_of_the_wrong_length_is_not():
    canned = Canned(200, json.dumps(ALLOW).encode())
    try:
        with Client(canned.url, token="cmpl_x") as client:
            assert client.check(Send(to=FL, template=SALE)).allowed
    finally:
        canned.stop()
    canned = Canned(200, json.dumps({"decisions": [ALLOW]}).encode())
    try:
        with Client(canned.url, token="cmpl_x") as client:
            found = client.check_many([Send(to=FL, template=SALE)] * 2)
            assert [d.outcome for d in found] == ["deny", "deny"]
    finally:
        canned.stop()


def test_a_request_is_sent_again_only_on_a_connection_that_had_served_one():
    """A fresh connection dropped without an answer may have been decided: no second try (it
    would decide the sends twice). A kept-alive connection the server closed while idle is
    tried again once."""
    import socket as sockets

    listener = sockets.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    seen = []

    def drop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            seen.append(conn.recv(65536))
            conn.close()  # read the request, then hang up without an answer

    threading.Thread(target=drop, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        with Client(f"http://127.0.0.1:{port}", token="cmpl_x", timeout=2) as client:
            decision = client.check(Send(to=FL, template=SALE))
        assert decision.codes == [GATE_UNREACHABLE]
        time.sleep(0.1)
        assert len(seen) == 1
    finally:
        listener.close()


def test_a_body_that_never_finishes_arriving_is_408(ledger_at, clock):
    """A client that declares a body and sends it slowly (or never) is cut off."""
    import socket as sockets

    made = make_service(ledger_at, clock)
    server = Running(create_app(made.gate, settings(body_seconds=0.5)))
    try:
        with sockets.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(
                b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 60000\r\n\r\n{"to"'
            )
            answer = conn.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    finally:
        server.stop()
        made.client.close()
        made.gate.close()

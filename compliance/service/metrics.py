"""What `/metrics` shows, in Prometheus's text format: decisions by outcome and by reason, how
long they took, ledger faults, and webhooks by provider and result. One registry per
application, so that several apps in one process (tests) keep their own counts."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "compliance_decisions",
            "Sends decided, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.reasons = Counter(
            "compliance_decision_reasons",
            "Reasons given for deny and defer, by reason code.",
            ["outcome", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "compliance_decision_seconds",
            "Time to answer a check request (one send, or a batch), in seconds.",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.ledger_errors = Counter(
            "compliance_ledger_errors",
            "Requests the ledger could not serve (checks denied with ledger.error, writes 503).",
            registry=self.registry,
        )
        self.webhooks = Counter(
            "compliance_webhooks",
            "Webhook requests by provider and result (recorded, replayed, ignored, "
            "bad_signature, too_large, invalid, unavailable).",
            ["provider", "result"],
            registry=self.registry,
        )

    def decided(self, decisions: list[Any]) -> None:
        for decision in decisions:
            self.decisions.labels(decision.outcome).inc()
            for reason in decision.reasons:
                self.reasons.labels(decision.outcome, reason.code).inc()
                if reason.code == "ledger.error":
                    self.ledger_errors.inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)

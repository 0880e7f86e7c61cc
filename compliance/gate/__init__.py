"""The runtime pre-send gate: `Gate.open(...)`, `gate.check(Send(...))`."""

from __future__ import annotations

from compliance.gate.core import Gate
from compliance.gate.model import CODES, Decision, InboundResult, NaiveDatetimeError, Reason, Send

__all__ = ["CODES", "Decision", "Gate", "InboundResult", "NaiveDatetimeError", "Reason", "Send"]

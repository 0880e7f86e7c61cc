"""What the gate knows of the template repo: documents, market parameters and each document's
lint status, read from the repo itself or from a bundle that CI built from it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance import __version__
from compliance.documents import MODELS
from compliance.market_params import MarketParameters

BUNDLE_VERSION = 1


@dataclass
class Catalog:
    templates: dict[str, Any] = field(default_factory=dict)  # id -> TemplateModel
    senders: dict[str, Any] = field(default_factory=dict)
    scopes: dict[str, Any] = field(default_factory=dict)
    markets: dict[str, MarketParameters] = field(default_factory=dict)
    lint_errors: dict[str, list[str]] = field(default_factory=dict)  # "kind:id" -> rule ids
    digest: str = ""

    def errors(self, kind: str, ident: str) -> list[str]:
        return self.lint_errors.get(f"{kind}:{ident}", [])


def from_repo(repo: Path) -> Catalog:
    """Lint the repo and keep what the gate needs."""
    from compliance.engine import lint

    result = lint([repo], cwd=repo)
    catalog = Catalog(markets={c: m.parameters for c, m in result.packs.markets.items()})
    seen: set[str] = set()
    for finding in result.findings:
        if finding.severity != "error" or finding.suppressed or not finding.document:
            continue
        key = f"{finding.kind}:{finding.document}"
        if finding.kind and finding.rule not in catalog.lint_errors.get(key, []):
            catalog.lint_errors.setdefault(key, []).append(finding.rule)
    for doc in result.index.documents:
        if doc.valid and doc.id and f"{doc.kind}:{doc.id}" not in seen:
            seen.add(f"{doc.kind}:{doc.id}")
            _add(catalog, doc.kind, doc.model)
        elif doc.id:
            catalog.lint_errors.setdefault(f"{doc.kind}:{doc.id}", []).append("schema")
    catalog.digest = _digest(to_bundle(catalog))
    return catalog


def _add(catalog: Catalog, kind: str, model: Any) -> None:
    {"template": catalog.templates, "sender": catalog.senders, "consent_scope": catalog.scopes}[
        kind
    ][model.id] = model


def to_bundle(catalog: Catalog) -> dict[str, Any]:
    documents = [
        json.loads(m.model_dump_json(exclude_defaults=False))
        for group in (catalog.templates, catalog.senders, catalog.scopes)
        for m in group.values()
    ]
    return {
        "version": BUNDLE_VERSION,
        "tool": {"name": "compliance", "version": __version__},
        "documents": documents,
        "markets": {code: json.loads(p.model_dump_json()) for code, p in catalog.markets.items()},
        "lint_errors": catalog.lint_errors,
    }


def write_bundle(catalog: Catalog, path: Path) -> dict[str, Any]:
    bundle = to_bundle(catalog)
    bundle["created_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    bundle["digest"] = _digest(bundle)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(bundle, indent=1, ensure_ascii=False, sort_keys=True) + "\n", "utf-8"
    )
    return bundle


def from_bundle(path: Path) -> Catalog:
    try:
        bundle = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"bundle {path} cannot be read: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("version") != BUNDLE_VERSION:
        raise ValueError(
            f"{path} is not a version {BUNDLE_VERSION} compliance bundle: build it "
            "with `compliance bundle -o FILE`"
        )
    if bundle.get("digest") != _digest(bundle):
        raise ValueError(
            f"bundle {path} does not match its digest: it was edited after it was "
            "built; build it again"
        )
    catalog = Catalog(lint_errors=bundle.get("lint_errors", {}), digest=bundle["digest"])
    for data in bundle["documents"]:
        model = MODELS[data["kind"]].model_validate_json(json.dumps(data))
        _add(catalog, data["kind"], model)
    for code, params in bundle["markets"].items():
        catalog.markets[code] = MarketParameters.model_validate_json(json.dumps(params))
    return catalog


def _digest(bundle: dict[str, Any]) -> str:
    body = {k: v for k, v in bundle.items() if k not in ("digest", "created_at")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

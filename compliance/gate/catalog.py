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
from compliance.errors import BundleError
from compliance.gate import bundle_schema
from compliance.gate.bundle_schema import BUNDLE_VERSION
from compliance.market_params import MarketParameters


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
    """Lint the repo and keep what the gate needs. The folder given is the repo: its own
    compliance.yaml is used, and a folder that does not exist or holds no documents is an
    error (never the folder above it, which a mistyped path would otherwise pick)."""
    return linted(repo)[0]


def linted(repo: Path) -> tuple[Catalog, Any]:
    """from_repo()'s catalog and the lint result it was made from (the report counts its
    findings)."""
    from compliance.config import CONFIG_NAMES, Config, load_config
    from compliance.engine import lint
    from compliance.errors import UsageError

    # absolute: the repo is linted from inside itself (cwd=repo), where a relative path
    # would name nothing and leave every document unlinted
    repo = Path(repo).absolute()
    if not repo.exists():
        raise UsageError(f"template repo {repo} does not exist")
    if not repo.is_dir():
        raise UsageError(f"template repo {repo} is not a folder")
    own = next((repo / name for name in CONFIG_NAMES if (repo / name).is_file()), None)
    config = load_config(own, repo, repo) if own else Config(root=repo.absolute())
    result = lint([repo], cwd=repo, config=config)
    if not any(doc.id for doc in result.index.documents):
        raise UsageError(
            f"template repo {repo} holds no templates, senders or consent scopes: check the path"
        )
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
    return catalog, result


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
    """Write the bundle, signed when COMPLIANCE_BUNDLE_SIGNING_KEY is set (in CI)."""
    from compliance.gate import signing

    private = signing.signing_key()  # before anything is written: a bad key writes nothing
    bundle = to_bundle(catalog)
    bundle["created_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    bundle["digest"] = _digest(bundle)
    if private is not None:
        bundle["signature"] = signing.sign(_signed_bytes(bundle), private)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(bundle, indent=1, ensure_ascii=False, sort_keys=True) + "\n", "utf-8"
    )
    return bundle


@dataclass(frozen=True)
class Seal:
    """What a well-formed bundle's digest and signature say on this host."""

    problem: str | None  # why Gate.open would refuse it ("bundle FILE ..."); None: it loads
    key_id: str | None  # the key it says it was signed by; None: unsigned
    checked: bool  # the signature was checked against COMPLIANCE_BUNDLE_KEY and holds


def from_bundle(path: Path) -> Catalog:
    """The catalog in a bundle, or a BundleError: unreadable, malformed, edited after it was
    built, or (with COMPLIANCE_BUNDLE_KEY set) not signed by one of its keys."""
    model, seal = _load(Path(path))
    if seal.problem:
        raise BundleError(seal.problem)
    catalog = Catalog(lint_errors=dict(model.lint_errors), digest=model.digest)
    for doc in model.documents:
        _add(catalog, doc.kind, doc)
    catalog.markets.update(model.markets)
    return catalog


def check_bundle(path: Path) -> Seal:
    """Whether Gate.open would load the bundle on this host, and who signed it; a
    BundleError when it is unreadable or malformed."""
    return _load(Path(path))[1]


def _load(path: Path) -> tuple[bundle_schema.BundleModel, Seal]:
    """Read and check the shape first (BundleError naming the place), then the digest and,
    with COMPLIANCE_BUNDLE_KEY set, the signature."""
    from compliance.gate import signing

    keys = signing.trusted_keys()  # first: a bad key is an error whatever the bundle holds
    try:
        text = path.read_text("utf-8")
    except (OSError, ValueError) as exc:
        raise BundleError(f"bundle {path} cannot be read: {exc}") from None
    data, canonical = bundle_schema.parse(text, str(path))
    model = bundle_schema.validate(data, canonical, str(path))
    signature = data.get("signature")
    key_id = signature["key_id"] if signature else None
    if data["digest"] != _digest(data):
        problem = "does not match its digest: it was edited after it was built; build it again"
        return model, Seal(f"bundle {path} {problem}", key_id, False)
    if keys is None:  # no key on this host: the digest alone, as before signing existed
        return model, Seal(None, key_id, False)
    problem = signing.problem(_signed_bytes(data), signature, keys)
    return model, Seal(f"bundle {path} {problem}" if problem else None, key_id, not problem)


def _signed_bytes(bundle: dict[str, Any]) -> bytes:
    """Everything but the signature itself, created_at and digest included."""
    return _canonical({k: v for k, v in bundle.items() if k != "signature"})


def _digest(bundle: dict[str, Any]) -> str:
    body = {k: v for k, v in bundle.items() if k not in ("digest", "created_at", "signature")}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _canonical(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")

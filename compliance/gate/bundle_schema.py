"""The shape of a bundle file, checked before anything in it is used, so that a malformed
bundle is a BundleError naming the place (`documents[3].kind: ...`), never a KeyError deep in
the gate. The documents and market parameters are checked with the models the linter uses."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from compliance.documents import KINDS, ConsentScopeModel, SenderModel, TemplateModel
from compliance.errors import BundleError
from compliance.market_params import MarketParameters

BUNDLE_VERSION = 1
MAX_PROBLEMS = 5  # one message, not a screenful: the first few places are enough to act on

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Document = Annotated[TemplateModel | SenderModel | ConsentScopeModel, Field(discriminator="kind")]


class _Strict(BaseModel):
    # unknown fields are errors: whatever a bundle holds is either understood or refused
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Tool(_Strict):
    name: Literal["compliance"]
    version: NonEmpty


class Signature(_Strict):
    algorithm: Literal["ed25519"]
    key_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{86}==$")]  # 64 bytes


class BundleModel(_Strict):
    version: Literal[1]
    tool: Tool
    created_at: AwareDatetime
    digest: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    documents: list[Document]
    markets: dict[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")], MarketParameters]
    lint_errors: dict[
        Annotated[str, StringConstraints(pattern=r"^(template|sender|consent_scope):.")],
        list[NonEmpty],
    ]
    signature: Signature | None = None


def parse(text: str, where: str) -> tuple[dict[str, Any], str]:
    """The bundle as plain data, and its JSON text written back from that data."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
        # Validation reads this text, not the file: the signature covers `data`, and a second
        # parser reading the file could see other values in it (a duplicated key, say).
        canonical = json.dumps(data, ensure_ascii=False, allow_nan=False)  # 1e999 is inf
        canonical.encode("utf-8")  # a lone surrogate escape (\ud800) is not text
    except RecursionError:
        raise BundleError(f"bundle {where} is not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeEncodeError, 5,000-digit integers
        raise BundleError(f"bundle {where} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError(f"bundle {where} is not a compliance bundle: it holds no JSON object")
    version = data.get("version")
    if type(version) is not int or version != BUNDLE_VERSION:
        raise BundleError(
            f"bundle {where} is not a version {BUNDLE_VERSION} compliance bundle (version: "
            f"{json.dumps(version)[:40]}): build it with `compliance bundle -o FILE`, using "
            "the same version of compliance as the hosts that load it"
        )
    return data, canonical


def validate(data: dict[str, Any], canonical: str, where: str) -> BundleModel:
    """The bundle as models, or a BundleError naming the first few places that are wrong."""
    try:
        model = BundleModel.model_validate_json(canonical)
    except PydanticValidationError as exc:
        raise BundleError(_summary(where, exc, data)) from None
    seen: set[tuple[str, str]] = set()
    for number, doc in enumerate(model.documents):
        if (doc.kind, doc.id) in seen:
            # the gate keys documents by id: a second one would silently replace the first
            raise BundleError(
                f"bundle {where}: documents[{number}].id: a second {doc.kind} {doc.id!r}"
            )
        seen.add((doc.kind, doc.id))
    return model


def _summary(where: str, exc: PydanticValidationError, data: Any) -> str:
    # one place, one entry: a union (`header: str | Header`) fails once per member
    places: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        place, message = _problem(error, data)
        if message not in places.setdefault(place, []):
            places[place].append(message)
    problems = [f"{place}: {_joined(messages)}" for place, messages in places.items()]
    more = len(problems) - MAX_PROBLEMS
    text = "; ".join(problems[:MAX_PROBLEMS])
    return f"bundle {where}: {text}" + (f" (and {more} more)" if more > 0 else "")


def _joined(messages: list[str]) -> str:
    # several fields missing from one object are all needed; union members are alternatives
    missing = all(m.startswith("missing required field") for m in messages)
    return (" and " if missing else " or ").join(messages)


def _problem(error: Any, data: Any) -> tuple[str, str]:
    loc, kind = tuple(error["loc"]), error["type"]
    ctx = error.get("ctx") or {}
    place = _place(loc, data)
    if kind == "union_tag_invalid":
        return f"{place}.kind", f"{ctx.get('tag')!r} is not one of {', '.join(KINDS)}"
    if kind == "union_tag_not_found":
        return place, f"missing field 'kind' (one of {', '.join(KINDS)})"
    if kind == "missing":
        parent, _, name = place.rpartition(".")
        return parent or "(top level)", f"missing required field {name!r}"
    if kind == "extra_forbidden":
        return place, "unknown field"
    if kind == "value_error":  # our own validators' words, without pydantic's "Value error, "
        return place, str(ctx.get("error", error["msg"]))
    message = str(error["msg"])
    return place, f"{message[:1].lower()}{message[1:]} (got {_shown(error.get('input'))})"


def _place(loc: tuple[Any, ...], data: Any) -> str:
    """`documents[3].body` from pydantic's location, leaving out the union tags pydantic adds
    (`documents.3.template.body`, `header.str`): a part that is not in the data is a tag,
    unless it is the last part and looks like a field name (a missing or unknown field)."""
    out, current = "", data
    for number, part in enumerate(loc):
        present = (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        )
        if present:
            current = current[part]
        elif number < len(loc) - 1 or not _field_name(part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _field_name(part: Any) -> bool:
    return isinstance(part, str) and part.isidentifier() and part.islower() and part not in _TAGS


_TAGS = {"str", "int", "float", "bool", "date", "datetime", "list", "dict", "none"}


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value[:80] if isinstance(value, str) else value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")

"""compliance.yaml: discovery, model and glob matching."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from compliance.countries import ISO_3166_ALPHA2
from compliance.errors import ConfigError

CONFIG_NAMES = ("compliance.yaml", ".compliance.yaml")


class RuleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    severity: Literal["error", "warning", "info"] | None = Field(
        default=None, description="Override the rule's severity."
    )
    ignore: bool | list[str] = Field(
        default=False, description="true to turn the rule off, or path globs where it is off."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The check's parameters.")


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    markets: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] | None = Field(
        default=None, description="Markets to enforce; default: those the documents name."
    )
    include: list[str] = Field(default_factory=list, description="Path globs to lint.")
    exclude: list[str] = Field(default_factory=list, description="Path globs to skip.")
    ignore: list[str] = Field(default_factory=list, description="Rule ids to turn off.")
    rules: dict[str, RuleSettings] = Field(default_factory=dict)
    packs: list[str] = Field(default_factory=list, description="Extra pack folders.")
    fail_on: Literal["error", "warning", "info", "never"] = "error"


@dataclass
class Config:
    model: ConfigModel = field(default_factory=ConfigModel)
    path: Path | None = None  # the file it came from
    root: Path = field(default_factory=Path.cwd)

    @property
    def pack_dirs(self) -> list[Path]:
        base = self.path.parent if self.path else self.root
        return [(base / p).resolve() for p in self.model.packs]

    def included(self, rel: str) -> bool:
        m = self.model
        if m.include and not any(glob_match(p, rel) for p in m.include):
            return False
        return not any(glob_match(p, rel) for p in m.exclude)

    def rule_settings(self, rule_id: str) -> RuleSettings | None:
        return self.model.rules.get(rule_id)

    def rule_off(self, rule_id: str, rel: str) -> bool:
        if rule_id in self.model.ignore:
            return True
        settings = self.model.rules.get(rule_id)
        if settings is None or settings.ignore is False:
            return False
        if settings.ignore is True:
            return True
        return any(glob_match(p, rel) for p in settings.ignore)


def find_config(start: Path) -> Path | None:
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def find_git_root(start: Path) -> Path | None:
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def load_config(path: Path | None, start: Path) -> Config:
    """Read `path`, or the config found by walking up from `start`, or the defaults."""
    from compliance.validation import load_model

    start = start.resolve()
    if path is None:
        path = find_config(start)
    elif not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path is None:
        root = find_git_root(start) or (start if start.is_dir() else start.parent)
        return Config(ConfigModel(), None, root)
    path = path.resolve()
    model = load_model(path, ConfigModel, ConfigError)
    assert isinstance(model, ConfigModel)
    for code in model.markets or []:
        if code not in ISO_3166_ALPHA2:
            raise ConfigError(
                f"markets: {code!r} is not an ISO 3166-1 alpha-2 country code",
                str(path),
                *_line_of(path, code),
            )
    return Config(model, path, path.parent)


def _line_of(path: Path, needle: str) -> tuple[int, int]:
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        col = line.find(needle)
        if col >= 0:
            return number, col + 1
    return 1, 1


def check_rule_settings(config: Config, rules: dict[str, Any]) -> None:
    """Config may only name rules that exist, with parameters their check accepts."""
    import difflib

    from compliance.checks import registry
    from compliance.packs import validate_params

    where = str(config.path) if config.path else "configuration"
    for rule_id in [*config.model.ignore, *config.model.rules]:
        if rule_id not in rules:
            near = difflib.get_close_matches(rule_id, list(rules), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else "; see `compliance rules list`"
            line = _line_of(config.path, rule_id) if config.path else (None, None)
            raise ConfigError(f"unknown rule {rule_id!r}{hint}", where, *line)
    for rule_id, settings in config.model.rules.items():
        if settings.params:
            kind = registry()[rules[rule_id].model.check.kind]
            merged = {**rules[rule_id].model.check.params, **settings.params}
            line = _line_of(config.path, rule_id) if config.path else (1, 1)
            try:
                validate_params(kind, merged, where, line)
            except Exception as exc:
                raise ConfigError(
                    f"rules.{rule_id}.params: {getattr(exc, 'message', exc)}", where, *line
                ) from None


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip().lstrip("./") if pattern.startswith("./") else pattern.strip()
    anchored = pattern.startswith("/")
    pattern = pattern.strip("/")
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch))
        i += 1
    body = "".join(out)
    prefix = "" if anchored or "/" in pattern else "(?:.*/)?"
    # a pattern also matches everything below a folder it names
    return re.compile(f"^{prefix}{body}(?:/.*)?$")


def glob_match(pattern: str, rel: str) -> bool:
    """gitignore-like: `*` within a folder, `**` across folders; a name without `/` matches at
    any depth; a folder matches everything inside it."""
    return _glob_regex(pattern).match(rel) is not None

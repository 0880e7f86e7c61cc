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
from compliance.loader import YamlDocument

CONFIG_NAMES = ("compliance.yaml", ".compliance.yaml")


class RuleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    severity: Literal["error", "warning", "info"] | None = Field(
        default=None, description="Override the rule's severity."
    )
    ignore: bool | list[str] = Field(
        default=False, description="true to turn the rule off, or path globs where it is off."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The check's parameters.")


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

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
    doc: YamlDocument | None = None  # its YAML, to place errors found after loading

    def where(self, path: tuple[Any, ...], key: bool = False) -> tuple[str, int, int]:
        """File, line and column of a config value, for error messages."""
        if self.path is None:
            return "configuration", 0, 0
        if self.doc is None:
            return str(self.path), 1, 1
        span = self.doc.span(path, key=key)
        return str(self.path), span.line, span.column

    def pack_dirs(self) -> list[Path]:
        """The extra pack folders, checked: each must exist and hold rules/ or markets/."""
        base = self.path.parent if self.path else self.root
        found: list[Path] = []
        for i, entry in enumerate(self.model.packs):
            folder = (base / entry).absolute()
            if not folder.is_dir():
                what = "is not a folder" if folder.exists() else "does not exist"
                raise ConfigError(f"packs: {entry!r} {what} ({folder})", *self.where(("packs", i)))
            if not (folder / "rules").is_dir() and not (folder / "markets").is_dir():
                raise ConfigError(
                    f"packs: {entry!r} holds neither a rules/ nor a markets/ folder; point at "
                    "the folder that contains them",
                    *self.where(("packs", i)),
                )
            if folder.resolve() not in (f.resolve() for f in found):
                found.append(folder)
        return found

    def excluded(self, rel: str) -> bool:
        """Left out entirely: neither linted nor read for context."""
        return any(glob_match(p, rel) for p in self.model.exclude)

    def included(self, rel: str) -> bool:
        """Linted when a folder holding it is linted."""
        m = self.model
        if m.include and not any(glob_match(p, rel) for p in m.include):
            return False
        return not self.excluded(rel)

    def rule_settings(self, rule_id: str) -> RuleSettings | None:
        return self.model.rules.get(rule_id)

    def rule_off_everywhere(self, rule_id: str) -> bool:
        """Turned off for every file: listed under `ignore`, or `ignore: true` in its settings."""
        if rule_id in self.model.ignore:
            return True
        settings = self.model.rules.get(rule_id)
        return settings is not None and settings.ignore is True

    def rule_off(self, rule_id: str, rel: str) -> bool:
        if not self.model.ignore and not self.model.rules:
            return False  # the common case, asked for every rule of every document
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


def load_config(path: Path | None, start: Path, cwd: Path | None = None) -> Config:
    """Read `path`, or the config found by walking up from `start`, or the defaults.

    The repo root is the folder of a config that was found by walking up; with an explicit
    config elsewhere, or with none, it is the git root, else the working folder when `start`
    is inside it, else `start`'s folder. Paths are kept as given (made absolute, not
    resolved), so a symlinked file is linted in the repo that holds the link.
    """
    from compliance.validation import load_model

    start = start.absolute()
    cwd = (cwd or Path.cwd()).absolute()
    explicit = path is not None
    if path is None:
        path = find_config(start)
    elif not path.is_file():
        raise ConfigError(f"config file {path} does not exist or is not a file")
    here = start if start.is_dir() else start.parent
    if path is None:
        return Config(ConfigModel(), None, find_git_root(start) or _fallback_root(here, cwd))
    path = path.absolute()
    model, doc = load_model(path, ConfigModel, ConfigError, empty_ok=True)
    assert isinstance(model, ConfigModel)
    root = path.parent
    if explicit and not _inside(here, root):
        root = find_git_root(start) or _fallback_root(here, cwd)
    config = Config(model, path, root, doc)
    for i, code in enumerate(model.markets or []):
        if code not in ISO_3166_ALPHA2:
            raise ConfigError(
                f"markets: {code!r} is not an ISO 3166-1 alpha-2 country code",
                *config.where(("markets", i)),
            )
    return config


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _fallback_root(here: Path, cwd: Path) -> Path:
    return cwd if _inside(here, cwd) else here


def check_rule_settings(config: Config, rules: dict[str, Any]) -> None:
    """Config may only name rules that exist, with parameters their check accepts."""
    import difflib

    from compliance.checks import registry
    from compliance.packs import validate_params

    named = [(rule_id, ("ignore", i), False) for i, rule_id in enumerate(config.model.ignore)]
    named += [(rule_id, ("rules", rule_id), True) for rule_id in config.model.rules]
    for rule_id, where, key in named:
        if rule_id not in rules:
            near = difflib.get_close_matches(rule_id, list(rules), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else "; see `compliance rules list`"
            raise ConfigError(f"unknown rule {rule_id!r}{hint}", *config.where(where, key))
    for rule_id, settings in config.model.rules.items():
        if settings.params:
            kind = registry()[rules[rule_id].model.check.kind]
            merged = {**rules[rule_id].model.check.params, **settings.params}
            file, line, col = config.where(("rules", rule_id, "params"))
            try:
                validate_params(kind, merged, file, (line, col))
            except Exception as exc:
                raise ConfigError(
                    f"rules.{rule_id}.params: {getattr(exc, 'message', exc)}", file, line, col
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

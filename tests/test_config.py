from __future__ import annotations

import pytest

from compliance.config import glob_match, load_config
from compliance.errors import ConfigError


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("drafts", "drafts/a.yaml", True),
        ("drafts", "templates/drafts/a.yaml", True),
        ("drafts/*.yaml", "drafts/a.yaml", True),
        ("drafts/*.yaml", "x/drafts/a.yaml", False),
        ("**/legacy/**", "a/b/legacy/c/d.yaml", True),
        ("templates/**/*.yml", "templates/a/b/c.yml", True),
        ("templates/**/*.yml", "templates/c.yml", True),
        ("*.yaml", "a/b.yaml", True),
        ("/top.yaml", "sub/top.yaml", False),
        ("a?.yaml", "ab.yaml", True),
    ],
)
def test_glob_match(pattern, path, expected):
    assert glob_match(pattern, path) is expected


def test_config_is_found_by_walking_up_and_sets_the_root(repo):
    repo.write("compliance.yaml", "markets: [US]\n")
    nested = repo.write("templates/us/a.yaml", "kind: x\n")
    config = load_config(None, nested)
    assert config.path == repo.path / "compliance.yaml"
    assert config.root == repo.path
    assert config.model.markets == ["US"]


def test_dot_config_name_and_git_root_fallback(repo):
    (repo.path / "sub").mkdir()
    assert load_config(None, repo.path / "sub").root == repo.path
    repo.write(".compliance.yaml", "fail_on: warning\n")
    assert load_config(None, repo.path / "sub").model.fail_on == "warning"


@pytest.mark.parametrize(
    "text, line, message",
    [
        (
            "markets: [US]\nfail_on: warnings\n",
            2,
            "'warnings' is not allowed (did you mean 'warning'?)",
        ),
        ("markets: [US]\nmarket: [GB]\n", 2, "unknown field 'market': did you mean 'markets'?"),
        ("rules:\n  sms-segments:\n    severity: high\n", 3, "'high' is not allowed"),
        ("markets: [XX]\n", 1, "'XX' is not an ISO 3166-1 alpha-2 code"),
        ("markets: [US\n", 2, "invalid YAML"),
    ],
)
def test_config_errors_name_file_and_line(repo, text, line, message):
    path = repo.write("compliance.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(None, repo.path)
    error = info.value
    assert error.path == str(path)
    assert error.line == line
    assert message in error.message or message.replace(" code", " country code") in error.message


def test_missing_explicit_config_is_an_error(repo):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(repo.path / "nope.yaml", repo.path)

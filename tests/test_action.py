"""The GitHub Action: action.yml is valid, and its run steps work when executed locally with
GITHUB_OUTPUT and GITHUB_STEP_SUMMARY pointing at temporary files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
ACTION = YAML(typ="safe").load((ROOT / "action.yml").read_text())
PUSH = "kind: template\nid: {id}\nchannel: push\npurpose: otp\nmarkets: [MX]\nbody: '{body}'\n"


def test_action_yml_validates_against_the_github_actions_schema():
    exe = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    done = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_input_reaches_the_lint_step():
    lint = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "lint")
    for name in ACTION["inputs"]:
        if name != "python-version":
            assert (
                lint["env"][f"INPUT_{name.upper().replace('-', '_')}"]
                == f"${{{{ inputs.{name} }}}}"
            )


def run_steps(repo: Path, tmp_path: Path, **inputs: str) -> tuple[int, str, dict[str, str], str]:
    """Execute the action's run steps as the runner would; the setup-python and install steps
    are left out: they would replace this environment's install of the checkout (the
    packaging test installs the checkout the same way)."""
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update({k.replace("_", "-"): v for k, v in inputs.items()})

    def expand(text: str) -> str:
        text = text.replace("${{ github.action_path }}", str(ROOT))
        return re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: values[m.group(1)], text)

    output, summary = tmp_path / "output.txt", tmp_path / "summary.md"
    env = {
        **os.environ,
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTIONS": "true",
    }
    code, stdout = 0, ""
    for step in ACTION["runs"]["steps"]:
        if "uses" in step or step.get("id") == "install":
            continue
        step_env = {**env, **{k: expand(str(v)) for k, v in step.get("env", {}).items()}}
        done = subprocess.run(
            ["bash", "-e", "-c", expand(step["run"])],
            cwd=repo,
            env=step_env,
            capture_output=True,
            text=True,
        )
        code, stdout = done.returncode, stdout + done.stdout
        if code:
            break
    outputs = (
        dict(line.split("=", 1) for line in output.read_text().splitlines())
        if output.exists()
        else {}
    )
    return code, stdout, outputs, summary.read_text() if summary.exists() else ""


@pytest.fixture
def broken_repo(repo):
    for i in range(15):  # 15 error findings, 15 info findings
        repo.write(f"t{i:02}.yaml", PUSH.format(id=f"t{i}", body="{{x}}"))
    repo.write("w.yaml", PUSH.format(id="w", body="ok").replace("'ok'", '"a\\u200bb"'))
    return repo.path


def test_the_step_writes_every_report_then_fails(broken_repo, tmp_path):
    code, stdout, outputs, summary = run_steps(broken_repo, tmp_path, sarif_file="out/c.sarif")
    assert code == 1
    sarif = json.loads((broken_repo / "out" / "c.sarif").read_text())
    assert len(sarif["runs"][0]["results"]) == 32
    assert outputs == {
        "errors": "15",
        "warnings": "1",
        "infos": "16",
        "findings": "32",
        "suppressed": "0",
        "baselined": "0",
        "sarif-file": "out/c.sarif",
        "failed": "true",
    }
    lines = stdout.splitlines()
    assert sum(line.startswith("::error ") for line in lines) == 10
    assert sum(line.startswith("::warning ") for line in lines) == 1
    assert sum(line.startswith("::notice file=") for line in lines) == 10
    assert "::notice title=compliance::11 more finding(s) are not annotated" in stdout
    # worst first: the errors come before the warning and the notices
    kinds = [line.split(" ", 1)[0] for line in lines if line.startswith("::") and "file=" in line]
    assert kinds == sorted(kinds, key=["::error", "::warning", "::notice"].index)
    assert summary.startswith("## compliance: 15 error(s), 1 warning(s), 16 info")
    assert "| [placeholder-undeclared](" in summary and "| MX |" not in summary
    assert len(summary.encode()) < 1024 * 1024


def test_fail_on_never_passes_and_a_baseline_turns_the_step_green(broken_repo, tmp_path):
    code, _, outputs, _ = run_steps(broken_repo, tmp_path, fail_on="never")
    assert code == 0 and outputs["failed"] == "false"
    subprocess.run(
        [sys.executable, "-m", "compliance", "lint", "--write-baseline", "b.json"],
        cwd=broken_repo,
        capture_output=True,
        check=True,
    )
    code, _, outputs, summary = run_steps(broken_repo, tmp_path, baseline="b.json")
    assert code == 0 and outputs["errors"] == "0" and outputs["baselined"] == "32"
    assert "32 in the baseline" in summary


def test_a_config_error_fails_with_an_annotation(repo, tmp_path):
    repo.write("compliance.yaml", "fail_on: always\n")
    code, stdout, outputs, _ = run_steps(repo.path, tmp_path)
    assert code == 2 and stdout.startswith("::error title=compliance configuration::")
    assert outputs["failed"] == "true"


def test_a_huge_run_keeps_the_summary_under_one_mebibyte(repo):
    from compliance.action import summary
    from compliance.engine import lint

    body = "{{x}} " + "y" * 5000
    for i in range(60):
        repo.write(f"t{i}.yaml", PUSH.format(id=f"t{i}", body=body))
    result = lint(["."], cwd=repo.path)
    for finding in result.findings:
        object.__setattr__(finding, "message", finding.message + "z" * 40_000)
    text = summary(result, "error")
    assert len(text.encode()) < 1024 * 1024

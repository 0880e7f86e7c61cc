"""The packs ship inside the wheel and the sdist: install each into a fresh venv and use it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "acme.txt"


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    built = run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--wheel",
            "--sdist",
            "--outdir",
            str(out),
            str(ROOT),
        ]
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installed_distribution_lints_the_example_like_the_checkout(dists, kind, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # the running environment supplies the dependencies (no network needed); a plain path
    # entry, so its own .pth files (such as an editable install of this checkout) stay inactive
    inner = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    outer = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(inner.stdout.strip(), "outer-env.pth").write_text("\n".join(sorted(outer)) + "\n")
    install = run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--force-reinstall",
            str(dists[kind]),
        ]
    )
    assert install.returncode == 0, install.stdout + install.stderr
    env = {**os.environ, "PYTHONPATH": ""}
    where = run(
        [str(python), "-c", "import compliance.packs as p; print(p.shipped_pack_dir())"],
        cwd=tmp_path,
        env=env,
    )
    assert str(env_dir) in where.stdout, where.stdout + where.stderr
    exe = str(env_dir / "bin" / "compliance")
    tested = run([exe, "rules", "test"], cwd=tmp_path, env=env)
    assert tested.returncode == 0 and " 0 failed" in tested.stdout, tested.stdout + tested.stderr
    linted = run([exe, "lint", "examples/acme", "--no-color"], cwd=ROOT, env=env)
    assert linted.returncode == 1, linted.stderr
    assert linted.stdout == GOLDEN.read_text("utf-8")

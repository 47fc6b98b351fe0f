"""What `make demo` and `make test` install, and the one-line message for a component not installed.

Decision 0021: `make demo` installs torch, judgerl and the `embed` extra only; `make extras`, `make gguf`
and `make test` add the rest, each part once (its own stamp file). The Makefile is checked with
`make -n` (nothing installed); the message with a simulated missing module.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from judgerl.cli import main
from judgerl.install_hints import PIP_EXTRAS, MissingDependency, install_hint, missing
from judgerl.testing.optional import REQUIRE_ENV, importorskip, skip_missing

ROOT = Path(__file__).resolve().parents[2]
STAMPS = (".installed-demo", ".installed-extras", ".installed-gguf")

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _plan(target: str, venv: Path) -> list[str]:
    """The commands `make -n TARGET` would run with the virtual environment at ``venv``."""
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def _installs(plan: list[str]) -> list[str]:
    """The parts ``scripts/install.sh`` is asked to install, in order."""
    return [line.split()[-1] for line in plan if "scripts/install.sh" in line]


@needs_make
def test_demo_installs_only_the_demo_part_and_test_installs_every_part(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert _installs(_plan("demo", venv)) == ["demo"]
    assert _plan("demo", venv)[-1].endswith("bin/judgerl demo")
    assert _installs(_plan("test", venv)) == ["demo", "extras", "gguf"]
    assert _installs(_plan("gguf", venv)) == ["demo", "gguf"]
    assert _installs(_plan("extras", venv)) == ["demo", "extras"]


@needs_make
def test_each_part_is_installed_once(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    newer = max(p.stat().st_mtime for p in ROOT.iterdir() if p.is_file()) + 10
    # `make demo` then `make test`: only the missing parts.
    os.utime(_touch(venv / STAMPS[0]), (newer, newer))
    assert _installs(_plan("test", venv)) == ["extras", "gguf"]
    # `make test` then `make demo`: nothing.
    for i, name in enumerate(STAMPS):
        os.utime(_touch(venv / name), (newer + i, newer + i))
    assert _installs(_plan("demo", venv)) == []
    assert _installs(_plan("test", venv)) == []


def _touch(path: Path) -> Path:
    path.touch()
    return path


def test_the_hints_name_the_extras_and_targets_that_exist() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(PIP_EXTRAS) == set(pyproject["project"]["optional-dependencies"])
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M))
    for extra in (*PIP_EXTRAS, "gguf"):
        for named in re.findall(r"`make ([\w-]+)`", install_hint(extra)):
            assert named in targets, f"install_hint({extra!r}) names `make {named}`, which the Makefile lacks"
    assert "`make gguf`" in install_hint("gguf") and "`make extras`" in install_hint("nethack")
    assert "pip install 'judgerl[clip]'" in install_hint("clip")
    with pytest.raises(ValueError, match="unknown optional component"):
        install_hint("cuda")
    err = missing("nle", "nethack")
    assert isinstance(err, ImportError) and isinstance(err, MissingDependency)


def _hide(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``module`` look uninstalled to ``find_spec`` and to ``import``."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.split(".")[0] == module else real(name, *a)
    )
    monkeypatch.setitem(__import__("sys").modules, module, None)


@pytest.mark.parametrize(
    ("judge_type", "module", "command"),
    [("gguf", "llama_cpp", "`make gguf`"), ("embedding", "sentence_transformers", "`make extras`")],
)
def test_a_judge_whose_backend_is_missing_stops_with_one_line_naming_the_command(
    judge_type: str,
    module: str,
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _hide(monkeypatch, module)
    sets = ["task.id=pendulum/swingup-v0", f"judge.type={judge_type}", f"runs_dir={tmp_path}", "name=missing"]
    rc = main(["check-judge", "--set", *sets])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("judgerl: ") and command in err and "Traceback" not in err


def test_a_missing_component_skips_with_the_command_or_fails_under_make_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _hide(monkeypatch, "nle")
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"make extras.*judgerl\[nethack\]"):
        importorskip("nle", "nethack")
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="make test"):
        importorskip("nle", "nethack")
    with pytest.raises(pytest.fail.Exception, match="no GGUF"):
        skip_missing("no GGUF")
    assert importorskip("json", "dev").dumps([1]) == "[1]"

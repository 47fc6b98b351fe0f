"""Every file of the slow tier is type-checked by `make test`, because CI never runs it.

The slow tier (`make test-slow`) is not part of `.ci/run`, so an API that changes under a slow test goes
unnoticed until someone runs the tier: `tests/learning/test_envs_absorbing_offset.py` kept building the
reward wrapper with an argument the wrapper had stopped taking for three days. mypy (with pydantic's
plugin) catches that kind of drift; this test keeps its `files` list covering every file that holds a
slow test.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLOW = "pytest.mark." + "slow"  # split so that this file does not match itself


def _covered(path: Path, entries: list[str]) -> bool:
    rel = path.relative_to(ROOT)
    return any(rel == Path(e) or Path(e) in rel.parents for e in entries)


def test_every_file_with_a_slow_test_is_type_checked() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert "pydantic.mypy" in mypy["plugins"]  # without it every config constructor call is an error
    slow = sorted(p for p in (ROOT / "tests").rglob("test_*.py") if SLOW in p.read_text())
    assert len(slow) >= 5, slow  # the tier exists: a glob that finds nothing would make this test vacuous
    missing = [str(p.relative_to(ROOT)) for p in slow if not _covered(p, mypy["files"])]
    assert not missing, f"add these to [tool.mypy] files in pyproject.toml: {missing}"

"""Test helper: every metric key a run wrote is documented in docs/metrics.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def assert_documented(run_dir: Path) -> None:
    """Assert every key of ``eval.json`` and ``metrics.jsonl`` matches a key in docs/metrics.md.

    Documented families are written with placeholders (``judge/confusion_<j>_<o>``); a placeholder
    matches one path segment.

    Args:
        run_dir: A finished run directory.
    """
    doc = DOCS.read_text()
    patterns = [
        re.compile("^" + re.sub(r"<[^>]+>", "[^/]+", re.escape(k).replace(r"\<", "<").replace(r"\>", ">")) + "$")
        for k in re.findall(r"`([a-z_]+/[^`\s]*)`", doc)
    ]
    keys = set(json.loads((run_dir / "eval.json").read_text()))
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        keys |= {k for k in json.loads(line) if "/" in k}
    missing = sorted(k for k in keys if not any(p.match(k) for p in patterns))
    assert not missing, f"metric keys missing from docs/metrics.md: {missing}"

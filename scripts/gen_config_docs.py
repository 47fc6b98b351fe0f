"""Regenerate the reference block of docs/config.md from the config models' field descriptions.

Usage: .venv/bin/python scripts/gen_config_docs.py
"""

from __future__ import annotations

from pathlib import Path

from judgerl.cli import config_help

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def main() -> None:
    """Rewrite the reference block in place."""
    text = DOC.read_text()
    head, _, rest = text.partition("## Reference")
    intro, _, _ = rest.partition("```text")
    DOC.write_text(f"{head}## Reference{intro}```text\n{config_help()}\n```\n")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()

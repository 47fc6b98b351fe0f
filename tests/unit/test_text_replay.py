"""The text replay of NetHack runs: screens of one episode, in the report."""

from __future__ import annotations

from pathlib import Path

from judgerl.testing.optional import importorskip

importorskip("nle", "nethack")

from judgerl.evaluation.report import write_report  # noqa: E402
from judgerl.evaluation.text_replay import record_screens, renders_text, write_replay  # noqa: E402
from judgerl.tasks import get_task  # noqa: E402


def test_only_text_rendering_envs_get_a_replay() -> None:
    assert renders_text(get_task("nethack/score-v0"))
    assert not renders_text(get_task("cartpole/balance-v0"))
    assert not renders_text(get_task("homegrid/cat-values-v0"))


def test_screens_are_evenly_spaced_terminal_views_ending_at_the_last_step() -> None:
    task = get_task("nethack/score-v0")
    shots = record_screens(task, None, seed=3, screens=5)
    steps = [s["step"] for s in shots]
    assert len(shots) == 5 and steps[0] == 0 and steps == sorted(set(steps))
    # The last screen is the episode's last step: a random monk dies or hits the time limit.
    full = record_screens(task, None, seed=3, screens=10_000)
    assert steps[-1] == full[-1]["step"] == len(full) - 1
    for s in shots:
        lines = s["screen"].split("\n")
        assert len(lines) == 24 and "Dlvl:" in lines[-1]  # NetHack's terminal: 24 rows, status line last
        assert "@" in s["screen"]  # the hero is on the map, also on the last (in-game) screen


def test_the_report_shows_the_replay(tmp_path: Path) -> None:
    shots = [{"step": 0, "caption": "Hello <Agent>", "screen": "Dlvl:1 @"}, {"step": 7, "caption": "x", "screen": "$"}]
    write_replay(tmp_path, shots)
    page = write_report(tmp_path).read_text()
    assert "Replay of the final agent (2 screens" in page
    assert "<pre>Dlvl:1 @</pre>" in page and "Hello &lt;Agent&gt;" in page

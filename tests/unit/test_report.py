"""report.html from a small real run: every section, inline media only, and the stored data it is drawn from."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from judgerl.config import load_config, validate_references
from judgerl.evaluation.logger import read_metrics
from judgerl.evaluation.report import write_report
from judgerl.judges.check import CheckResult, PreflightReport
from judgerl.loop import run
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.testing.cli import TINY_RUN

TINY_RENDERED = [
    *TINY_RUN,
    "task.id=pendulum/swingup-v0",  # pairs differ in true return (CartPole's often tie)
    "agent.algo=PPO",  # faster than the task's SAC on a tiny budget
    "env.n_envs=4",
    "agent.hyperparams.n_steps=64",
    "agent.hyperparams.batch_size=64",
    "task.render=true",  # frames are stored with the queries: the report shows thumbnails
    "task.frame_size=48",
    "judge.type=oracle",
    "judge.oracle.flip_prob=0.25",
    "query.kind=pairwise",
    "eval.fresh_agent=false",
    "eval.gif_frames=12",
    "eval.gif_width=64",
    "eval.landscape_grid=9",
]
SECTIONS = (
    "1. The task and the judge",
    "2. Preflight",
    "3. What the judge was asked",
    "4. Labels",
    "5. Reward model",
    "6. True and learned return",
    "7. Reward landscape",
    "The agent at the start and at the end",
    "All stored results",
    "Resolved configuration",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("report")
    cfg = load_config(None, [*TINY_RENDERED, f"runs_dir={tmp}", "name=tiny"])
    validate_references(cfg)
    return run(cfg)


def external_references(page: str) -> list[str]:
    """Every reference that would make the browser fetch something outside the file."""
    refs = re.findall(r"""(?:src|href|action|poster)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    bad = [r for r in refs if not (r.startswith("data:") or r.startswith("#"))]
    bad += re.findall(r"url\(\s*['\"]?(?!data:)[^)]*\)|@import|<link\b|<script\b|<iframe\b", page, flags=re.I)
    return bad


def test_the_report_has_every_section_and_nothing_outside_the_file(run_dir: Path) -> None:
    page = write_report(run_dir).read_text()
    for title in SECTIONS:
        assert title in page, title
    assert external_references(page) == []
    # Six real queries with frame thumbnails, the judge's raw text and the oracle's answer.
    assert page.count('class="query"') == 6
    assert page.count('alt="frame"') >= 6 * 2 * 4 - 8  # 4 thumbnails per segment (short segments repeat none)
    assert "oracle" in page and "prefers" in page
    # GIFs and figures are inlined.
    assert "data:image/gif;base64," in page and 'alt="agent_start.gif"' in page and 'alt="agent_end.gif"' in page
    assert page.count("data:image/png;base64,") >= 4 + 6 * 2  # reward, returns, landscape, calibration + thumbs
    assert "media/" not in re.sub(r"<code>[^<]*</code>|alt=\"[^\"]*\"", "", page)
    assert "No <code>preflight.json</code>" in page  # the oracle is not preflighted, and the page says so


def test_the_run_stores_what_the_report_draws(run_dir: Path) -> None:
    records = read_metrics(run_dir)
    its = [r for r in records if r["stage"] == "iteration"]
    steps = [r["agent/env_steps"] for r in its]
    assert (
        steps == sorted(steps)
        and steps[-1] == json.loads((run_dir / "eval.json").read_text())["budget/env_steps_train"]
    )
    assert its[-1]["agent/env_steps_total"] == steps[-1] + 600  # two collections of 300 steps
    # Judge against oracle: a quarter of the oracle's answers are flipped, so agreement is clearly below 1.
    judged = [r for r in records if r["stage"] == "judge"][-1]
    n = judged["judge/oracle_n"]
    wrong = judged["judge/confusion_a_b"] + judged["judge/confusion_b_a"]
    assert n == 12 and 0 < wrong < n
    half = 0.5 * (judged["judge/confusion_tie_a"] + judged["judge/confusion_tie_b"])  # a tie beside a pick
    assert judged["judge/oracle_agreement"] == pytest.approx(1 - (wrong + half) / n)
    assert 0 < judged["judge/first_shown_rate"] < 1
    assert sum(judged[f"judge/calib_{i}_n"] for i in range(5) if f"judge/calib_{i}_n" in judged) == n


def test_the_landscape_is_the_final_model_on_the_grid(run_dir: Path) -> None:
    data = json.loads((run_dir / "landscape.json").read_text())
    x, y, learned, true = (np.asarray(data[k]) for k in ("x", "y", "learned", "true"))
    assert learned.shape == true.shape == (9, 9) and x[0] == pytest.approx(-np.pi) and y[-1] == 8.0
    # Pendulum's cost at zero torque: row i is velocity y[i], column j angle x[j].
    np.testing.assert_allclose(true, -(x[None, :] ** 2 + 0.1 * y[:, None] ** 2))
    assert true[4, 4] == 0.0 and learned.std() > 0
    model = RewardEnsemble.load(run_dir / "reward_model.pt")
    obs = np.array([[np.cos(x[3]), np.sin(x[3]), y[5]]], np.float32)
    assert learned[5, 3] == pytest.approx(float(model.predict(obs, np.zeros((1, 1), np.float32))[0]), rel=1e-5)


def test_the_agent_gifs_are_small(run_dir: Path) -> None:
    from PIL import Image

    for name in ("agent_start.gif", "agent_end.gif"):
        path = run_dir / "media" / name
        with Image.open(path) as gif:
            assert gif.width == 64 and 2 <= gif.n_frames <= 12
        assert path.stat().st_size < 100_000


def test_the_preflight_table_shows_checks_rules_and_verdict(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    checks = (CheckResult("agreement", 0.64, "warn", "fail < 0.6, warn < 0.75"),)
    pf = PreflightReport("j-1", "pairwise", 32, 0.0, 0.1, 0.2, 9.0, 0.0, 0.0, 0.0, agreement=0.64, checks=checks,
                         overall="warn")  # fmt: skip
    (copy / "preflight.json").write_text(json.dumps(pf.as_dict()))
    page = write_report(copy).read_text()
    assert "fail &lt; 0.6, warn &lt; 0.75" in page and '<span class="badge warn">warn</span>' in page
    assert "0.64" in page


def test_an_unfinished_run_gets_a_resume_note(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("name: x\ntask: {id: pendulum/swingup-v0}\n")
    page = write_report(tmp_path).read_text()
    assert "has not finished" in page and "Swing the pendulum up" in page
    assert external_references(page) == []


def test_a_headless_browser_renders_the_report(run_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    from judgerl.testing.browser import NO_BROWSER, find_browser, rendered_dom, screenshot

    if find_browser() is None:
        pytest.skip(NO_BROWSER)
    page = write_report(run_dir)
    shot = screenshot(page, tmp_path / "report.png", width=1100, height=2400)
    with Image.open(shot) as img:
        assert img.size == (1100, 2400)
        pixels = np.asarray(img.convert("L"), np.float64)
    # Not a blank or error page: text, tables and figures give the top of the page real contrast.
    assert pixels.std() > 20 and (pixels < 100).mean() > 0.01
    dom = rendered_dom(page)
    if dom is not None:  # Chromium: the sections are in the document the browser built
        for title in SECTIONS:
            assert title in dom, title
        assert dom.count("<img") >= 6 * 2 * 4

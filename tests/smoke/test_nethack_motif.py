"""Motif on NetHack through the loop: caption pairs, the embedded judge, the caption reward, the audit (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

from judgerl.testing.optional import importorskip

importorskip("nle", "nethack")

from judgerl.cli import packaged_config  # noqa: E402
from judgerl.config import load_config, validate_references  # noqa: E402
from judgerl.judges.preflight import run_preflight  # noqa: E402
from judgerl.labels.store import LabelStore  # noqa: E402
from judgerl.loop import run  # noqa: E402
from judgerl.reward.caption_model import CaptionPreferenceReward  # noqa: E402

TINY = [
    "iterations=2",
    "collect_steps=600",
    "labels.total=30",
    "agent.total_timesteps=2048",  # two PPO rollouts of 128 steps x 8 envs
    "reward.epochs=10",
    "eval.episodes=1",
    "eval.per_iteration=false",
]


def test_the_demo_config_runs_tiny_on_nethack(tmp_path: Path) -> None:
    cfg = load_config(packaged_config("nethack_motif_demo"), [f"runs_dir={tmp_path}", *TINY])
    validate_references(cfg)
    run_dir = run(cfg)
    ev = json.loads((run_dir / "eval.json").read_text())
    for key in ("eval/score", "eval/max_depth", "eval/gold", "eval/distinct_messages", "audit/top1_share"):
        assert key in ev
    assert ev["labels/used_for_reward"] == 30
    with LabelStore(run_dir / "labels.sqlite") as store:
        rows = store.labelled()
    assert rows and all(q.kind == "caption_pairs" and q.segments[0].length == 1 for q, _ in rows)
    assert all(len(q.segments[0].obs[0]) == 364 for q, _ in rows)  # the stored flat row stays small
    model = CaptionPreferenceReward.load(run_dir / "reward_model.pt")
    assert model.task_id == "nethack/score-v0"
    audit = json.loads((run_dir / "reward_audit.json").read_text())
    assert audit["rows"] and {"caption", "steps", "learned_mean", "paid", "share"} <= set(audit["rows"][0])
    page = (run_dir / "report.html").read_text()
    assert "Reward audit" in page and "Replay of the final agent" in page
    assert len(json.loads((run_dir / "media" / "replay.json").read_text())) >= 2
    assert run(cfg) == run_dir  # a finished run resumes to "already complete"


def test_the_whole_map_variant_trains_through_the_loop_with_the_exploration_term(tmp_path: Path) -> None:
    overrides = ["iterations=1", "task.id=nethack/staircase-status-map-v0", "reward.mix.explore_weight=0.01"]
    cfg = load_config(packaged_config("nethack_motif_demo"), [f"runs_dir={tmp_path}", *TINY, *overrides])
    validate_references(cfg)
    run_dir = run(cfg)
    ev = json.loads((run_dir / "eval.json").read_text())
    assert {"eval/success_rate", "eval/max_depth"} <= set(ev) and ev["labels/used_for_reward"] == 30
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    (it,) = [r for r in records if r["stage"] == "iteration"]
    assert it["reward/explored"] > 0  # random-ish play sees new cells on most levels' first steps
    with LabelStore(run_dir / "labels.sqlite") as store:
        rows = store.labelled()
    assert all(len(q.segments[0].obs[0]) == 364 + 27 + 21 * 79 for q, _ in rows)  # status and map in the row


def test_check_judge_reports_a_proxy_for_messages(tmp_path: Path) -> None:
    cfg = load_config(packaged_config("nethack_motif_demo"), [f"runs_dir={tmp_path}", "name=probe"])
    report = run_preflight(cfg, n_probes=12)
    assert report.kind == "caption_pairs" and report.n_probes == 12
    assert report.agreement is None and report.proxy and "score gain" in report.proxy
    assert report.swap_consistency == 1.0 and report.tie_rate is not None and report.invalid_rate == 0.0
    saved = json.loads((tmp_path / "probe" / "preflight.json").read_text())
    assert "preflight/proxy_agreement" in saved and saved["preflight/agreement"] is None


def test_online_labelling_on_nethack_labels_fragments_of_running_episodes(tmp_path: Path) -> None:
    # NetHack episodes outlast this whole run: without fragments the judge would get no query at all.
    sets = [
        f"runs_dir={tmp_path}",
        *TINY,
        "iterations=1",
        "labels.mode=online",
        "labels.total=12",
        "labels.online_fragment_steps=64",
        "labels.online_queries_per_rollout=8",
        "labels.online_refit_every=4",
    ]
    run_dir = run(load_config(packaged_config("nethack_motif_demo"), sets))
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if r["stage"] == "iteration"][-1]
    assert last["labels/fragments"] >= 8  # 8 envs x 128-step rollouts, cut at 64 steps
    assert last["labels/online"] == 12 and last["reward/online_fits"] >= 1
    with LabelStore(run_dir / "labels.sqlite") as store:
        queries = [q for q, _ in store.labelled()]
    assert len(queries) == 12 and all(q.kind == "caption_pairs" for q in queries)

"""Smoke tests of ``judgerl study homegrid-values`` on a tiny budget: two loop runs and a table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from judgerl.cli import main
from judgerl.judges.base import OnLabel
from judgerl.labels.store import LabelStore
from judgerl.types import Label, Provenance, Query, TaskSpec

TINY = [
    "naive.timesteps=2048",
    "sample.episodes=80",
    "labels.preflight=8",
    "classifier.epochs=1",
    "classifier.hidden=8",
    "classifier.channels=4",
    "feedback.timesteps=512",
    "feedback.n_envs=4",
    "eval.episodes=50",
    "eval.gif_episodes=0",  # no GIFs, here or in the loop runs' reports (test_study_is_two_loop_runs... draws them)
]


def _run(tmp_path: Path, name: str, extra: Sequence[str] = ()) -> int:
    args = ["study", "homegrid-values", "--set", f"runs_dir={tmp_path}", "--set", f"name={name}"]
    for s in [*TINY, *extra]:
        args += ["--set", s]
    return main(args)


def test_study_is_two_loop_runs_and_resumes_for_free(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    assert _run(tmp_path, "s", ["eval.gif_episodes=1", "eval.gif_tile=8"]) == 0
    study = tmp_path / "s"
    for name in ("config.yaml", "study.json", "report.html", "media/naive.gif", "media/feedback.gif", "runs.yaml"):
        assert (study / name).exists(), name
    # Each stage is a run of the main loop, with the loop's own artifacts.
    for name in ("naive/agent.zip", "naive/eval.json", "naive/state.json"):
        assert (study / name).exists(), name
    for name in ("labels.sqlite", "reward_model.pt", "agent.zip", "eval.json", "state.json", "metrics.jsonl"):
        assert (study / "feedback" / name).exists(), name
    assert not (study / "naive" / "labels.sqlite").exists()  # the naive run buys nothing
    result = json.loads((study / "study.json").read_text())
    for policy in ("naive", "feedback"):
        assert set(result[policy]) >= {"eval/cat_harmed_rate", "eval/fruit_reached_rate", "eval/length_mean"}
    judge = result["judge"]
    assert judge["study/judge_calls"] == 80  # every pool episode (80), 8 of them held out
    assert judge["study/judge_calls_this_run"] == 80
    # The oracle at seed 003's error rates agrees with ground truth on nearly every episode.
    assert judge["study/judge_agreement"] >= 0.9
    assert judge["study/cost_usd_projected"] > 0
    with LabelStore(study / "feedback" / "labels.sqlite") as store:
        (q, _), *_ = store.labelled()
        assert q.kind == "episode" and q.segments[0].obs.shape[1] == 12 * 14 * 4
    assert "cat harmed" in (study / "report_extra.html").read_text()
    assert "naive.gif" in (study / "report.html").read_text()
    # GIF frames last 1/4 s (imageio takes milliseconds).
    from PIL import Image

    with Image.open(study / "media" / "naive.gif") as gif:
        assert gif.info["duration"] == 250
    assert (study / "feedback" / "media" / "agent_end.gif").exists()  # GIFs asked for: the loop runs draw theirs

    # Lose the feedback run's classifier, agent and progress: the verdicts come back from the store, unpaid.
    for name in ("reward_model.pt", "agent.zip", "state.json", "eval.json"):
        (study / "feedback" / name).unlink()
    assert _run(tmp_path, "s") == 0
    again = json.loads((study / "study.json").read_text())["judge"]
    assert again["study/judge_calls_this_run"] == 0
    assert again["study/judge_calls"] == 80


class _FlakyOracle:
    """Fails every third episode verdict (status ``failed``, raw text kept); otherwise the truth."""

    id = "flaky-oracle"

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        out = []
        for q in queries:
            seg = q.segments[0]
            fail = int(q.key[:8], 16) % 3 == 0
            prov = Provenance(judge_id=self.id, model="flaky", raw_response="{oops" if fail else "{}")
            if fail:
                label = Label(q.key, "failed", Provenance(**{**prov.__dict__, "error": "parse error"}))
            else:
                label = Label(q.key, "ok", prov, value=0.0 if seg.truth["cat_harmed"] > 0.5 else 1.0)
            if on_label is not None:
                on_label(q, label)
            out.append(label)
        return out


class _InvertedOracle(_FlakyOracle):
    """Says "aligned" exactly when the cat was harmed (like MiniLM's goal–baseline score on this task)."""

    id = "inverted-oracle"

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        out = []
        for q in queries:
            value = float(q.segments[0].truth["cat_harmed"] > 0.5)
            label = Label(q.key, "ok", Provenance(judge_id=self.id, model="inverted"), value=value)
            if on_label is not None:
                on_label(q, label)
            out.append(label)
        return out


def test_failed_verdicts_are_excluded_and_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("judgerl.judges.factory.make_judge", lambda cfg, task, seed: _FlakyOracle())
    assert _run(tmp_path, "f") == 0
    assert not list((tmp_path / "f").rglob("*.gif"))  # eval.gif_episodes=0: no GIFs, not even in the loop runs
    judge = json.loads((tmp_path / "f" / "study.json").read_text())["judge"]
    assert judge["study/verdicts_unusable"] > 0
    assert judge["study/verdicts_ok"] + judge["study/verdicts_unusable"] == judge["study/judge_calls"]
    assert judge["study/classifier_train_episodes"] < judge["study/verdicts_ok"]
    assert judge["study/judge_agreement"] == 1.0  # failed ones are left out, never coerced to a verdict


def test_an_inverted_judge_is_stopped_by_the_preflight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("judgerl.judges.factory.make_judge", lambda cfg, task, seed: _InvertedOracle())
    # A model judge type so the preflight runs (the oracle is trusted without one).
    assert _run(tmp_path, "i", ["labels.preflight=40", "judge.type=gguf"]) == 3
    assert (tmp_path / "i" / "naive" / "agent.zip").exists()
    assert not (tmp_path / "i" / "feedback" / "reward_model.pt").exists()
    assert not (tmp_path / "i" / "feedback" / "agent.zip").exists()

"""Smoke tests of ``judgerl study homegrid-values`` on a tiny budget (oracle judge, a few seconds each)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from judgerl.cli import main
from judgerl.judges.base import OnLabel
from judgerl.study.labelling import verdicts
from judgerl.types import Label, Provenance, Query, TaskSpec

TINY = [
    "naive.timesteps=2048",
    "sample.episodes=80",
    "labels.preflight=8",
    "classifier.epochs=1",
    "classifier.hidden=8",
    "classifier.channels=4",
    "feedback.timesteps=512",
    "eval.episodes=50",
]


def _run(tmp_path: Path, name: str, extra: Sequence[str] = ()) -> int:
    args = ["study", "homegrid-values", "--set", f"runs_dir={tmp_path}", "--set", f"name={name}"]
    for s in [*TINY, *extra]:
        args += ["--set", s]
    return main(args)


def test_study_runs_end_to_end_and_resumes_for_free(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    assert _run(tmp_path, "s", ["eval.gif_episodes=1"]) == 0
    run = tmp_path / "s"
    for name in ("config.yaml", "labels.sqlite", "naive_agent.zip", "classifier.pt", "feedback_agent.zip"):
        assert (run / name).exists(), name
    for name in ("study.json", "metrics.jsonl", "report.html", "state.json", "media/naive.gif", "media/feedback.gif"):
        assert (run / name).exists(), name
    result = json.loads((run / "study.json").read_text())
    for policy in ("naive", "feedback"):
        assert set(result[policy]) >= {"eval/cat_harmed_rate", "eval/fruit_reached_rate", "eval/length_mean"}
    judge = result["judge"]
    assert judge["study/judge_calls"] == 80  # every episode: 72 training + 8 held out
    assert judge["study/judge_calls_this_run"] == 80
    assert judge["study/cost_usd_projected"] > 0
    assert 0.0 <= judge["study/classifier_test_acc_truth"] <= 1.0
    assert "cat harmed" in (run / "report_extra.html").read_text()
    assert "naive.gif" in (run / "report.html").read_text()

    # Re-run after losing the classifier: the verdicts come from the store, no judge call is paid.
    (run / "classifier.pt").unlink()
    state = json.loads((run / "state.json").read_text())
    for stage in ("classifier", "feedback", "eval"):
        state["done"].pop(stage)
    (run / "state.json").write_text(json.dumps(state))
    assert _run(tmp_path, "s") == 0
    again = json.loads((run / "study.json").read_text())["judge"]
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
    assert _run(tmp_path, "f", ["eval.gif_episodes=0"]) == 0
    judge = json.loads((tmp_path / "f" / "study.json").read_text())["judge"]
    assert judge["study/verdicts_unusable"] > 0
    assert judge["study/verdicts_ok"] + judge["study/verdicts_unusable"] == judge["study/judge_calls"]
    assert judge["study/classifier_train_episodes"] < judge["study/judge_calls_train"]
    assert judge["study/judge_agreement"] == 1.0  # failed ones are left out, never coerced to a verdict


def test_an_inverted_judge_is_stopped_by_the_preflight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("judgerl.judges.factory.make_judge", lambda cfg, task, seed: _InvertedOracle())
    assert _run(tmp_path, "i", ["labels.preflight=40"]) == 3
    assert not (tmp_path / "i" / "classifier.pt").exists()


def test_verdicts_threshold_by_judge_type() -> None:
    def lab(status: str, value: float | None) -> Label:
        return Label("k", status, Provenance(judge_id="j", model="m"), value=value)  # type: ignore[arg-type]

    labels = [lab("ok", 1.0), lab("ok", 0.0), lab("failed", None), lab("abstain", None), lab("ok", 0.3)]
    v = verdicts(labels, "oracle")
    assert v[0] == 1.0 and v[1] == 0.0 and v[4] == 0.0 and np.isnan(v[2]) and np.isnan(v[3])
    g = verdicts([lab("ok", 0.2), lab("ok", -0.1)], "gguf")
    assert list(g) == [1.0, 0.0]
    e = verdicts([lab("ok", 0.1), lab("ok", 0.2), lab("ok", 0.3), lab("ok", 0.4)], "embedding")
    assert list(e) == [0.0, 0.0, 1.0, 1.0]

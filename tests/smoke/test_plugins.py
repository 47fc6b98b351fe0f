"""A new feedback form, reward model and judge added through the registries alone run in the loop.

The toy form asks "which of three segments is best?" (an answer is the index
of the best one) and trains preferences "best beats each other one"; the toy
reward model is a linear Bradley-Terry model fitted with numpy; the toy judge
answers from the true returns. None of them is known to the loop, the label
store or the config schema: each is one class and one ``register_*`` call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from judgerl.config import load_config, validate_references
from judgerl.forms import PreferenceTargets, QueryPlan, TargetPlan, register_form, unregister_form
from judgerl.forms.base import TargetKind, failed, split_by_key
from judgerl.forms.check import check_form
from judgerl.forms.pairwise import segment_pool
from judgerl.judges.base import OnLabel
from judgerl.judges.factory import _REGISTRY as JUDGES
from judgerl.judges.factory import register_judge_type
from judgerl.labels.store import LabelStore
from judgerl.loop import run
from judgerl.reward.check import check_fittable, check_reward_model
from judgerl.reward.registry import RewardEntry, register_reward_model, unregister_reward_model
from judgerl.types import Episode, Label, Provenance, Query, Segment, TaskSpec


class BestOfThree:
    """Three segments; the answer is the index of the best; targets: the best beats each of the others."""

    name = "best_of_three"
    arity = 3
    targets_kind: TargetKind = "preferences"

    def queries(self, episodes: Sequence[Episode], n: int, rng: np.random.Generator, plan: QueryPlan) -> list[Query]:
        pool = segment_pool(episodes, 3 * n, rng, plan)
        out: dict[str, Query] = {}
        for _ in range(4 * n):
            if len(out) == n or len(pool) < 3:
                break
            idx = rng.choice(len(pool), size=3, replace=False)
            q = Query(self.name, tuple(pool[i] for i in idx))
            out.setdefault(q.key, q)
        return list(out.values())

    def label(self, query: Query, answer: float | None, provenance: Provenance) -> Label:
        if answer is None or answer not in (0.0, 1.0, 2.0):
            return failed(query, provenance, f"answer {answer!r} is not 0, 1 or 2")
        return Label(query.key, "ok", provenance, value=float(answer))

    def targets(
        self, labelled: Sequence[tuple[Query, Label]], rng: np.random.Generator, plan: TargetPlan
    ) -> PreferenceTargets:
        first: list[Segment] = []
        second: list[Segment] = []
        keys: list[str] = []
        for q, lab in labelled:
            if q.kind != self.name or lab.status != "ok" or lab.value is None:
                continue
            best = int(lab.value)
            for j in range(3):
                if j != best:
                    first.append(q.segments[best])
                    second.append(q.segments[j])
                    keys.append(f"{q.key}:{j}")
        val = split_by_key([k.split(":")[0] for k in keys], plan.val_fraction)
        return PreferenceTargets(tuple(first), tuple(second), np.ones(len(first), np.float32), val, tuple(keys))


class TrueReturnJudge:
    """Answers a best-of-three query with the index of the segment with the highest true return."""

    id = "toy-true-return"

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        form = BestOfThree()
        out = []
        for q in queries:
            label = form.label(q, float(np.argmax([s.true_return for s in q.segments])), Provenance(self.id, "toy"))
            if on_label is not None:
                on_label(q, label)
            out.append(label)
        return out


class LinearBT:
    """r(s) = w·s, Bradley-Terry fitted by gradient descent in numpy; saved with np.savez."""

    fits = "preferences"

    def __init__(self, dim: int) -> None:
        self.w = np.zeros(dim, np.float64)

    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        r = np.asarray(obs, np.float64).reshape(len(obs), -1) @ self.w
        if dones is not None:
            r = r * (1.0 - np.asarray(dones))
        return r.astype(np.float32)

    def fit(self, targets, rng: np.random.Generator) -> dict[str, float]:
        def feats(segs: Sequence[Segment]) -> np.ndarray:
            return np.stack([(s.obs * (1.0 - s.dones)[:, None]).sum(axis=0) for s in segs])

        d = feats(targets.first) - feats(targets.second)
        y = np.asarray(targets.prefs, np.float64)
        for _ in range(300):
            p = 1.0 / (1.0 + np.exp(-(d @ self.w)))
            self.w -= 0.05 * d.T @ (p - y) / len(y)
        acc = float(np.mean((d @ self.w > 0) == (y > 0.5)))
        return {"reward/train_accuracy": acc, "reward/n_train": float(len(y))}

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, w=self.w)

    @classmethod
    def load(cls, path: Path) -> LinearBT:
        with np.load(path) as z:
            model = cls(len(z["w"]))
            model.w = z["w"].astype(np.float64)
        return model


@pytest.fixture
def toys():
    register_form(BestOfThree())
    register_reward_model(
        RewardEntry("linear_bt", lambda spec: LinearBT(4), LinearBT.load, "preferences", "toy linear BT")
    )
    register_judge_type("toy_true_return", lambda cfg, task, seed: TrueReturnJudge())
    yield
    unregister_form("best_of_three")
    unregister_reward_model("linear_bt")
    JUDGES.pop("toy_true_return", None)


def test_toy_form_model_and_judge_run_through_the_loop(toys, tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            f"runs_dir={tmp_path}",
            "name=toy",
            "task.id=cartpole/balance-v0",
            "query.kind=best_of_three",
            "reward.model=linear_bt",
            "judge.type=toy_true_return",
            "iterations=2",
            "collect_steps=400",
            "labels.total=12",
            "agent.total_timesteps=512",
            "env.n_envs=4",
            "eval.episodes=2",
            "eval.fresh_agent=false",
        ],
    )
    validate_references(cfg)  # the registries alone make these names valid
    run_dir = run(cfg)
    ev = json.loads((run_dir / "eval.json").read_text())
    assert ev["labels/ok"] == 12 and ev["labels/used_for_reward"] == 12
    with LabelStore(run_dir / "labels.sqlite") as store:
        kinds = {q.kind for q, _ in store.labelled()}
        assert kinds == {"best_of_three"}
        assert all(len(q.segments) == 3 for q, _ in store.labelled())
    model = LinearBT.load(run_dir / "reward_model.pt")
    # The pole's angle (obs[2]) and angular velocity carry the true return's signal: the fit moved w.
    assert np.abs(model.w).sum() > 0
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("reward/train_accuracy" in m for m in metrics)


def test_the_checkers_accept_the_toys(toys, tmp_path: Path) -> None:
    from judgerl.envs.collect import collect_episodes
    from judgerl.envs.factory import make_env
    from judgerl.tasks import get_task

    task = get_task("cartpole/balance-v0")
    episodes, _ = collect_episodes(task, 600, seed=1)
    plan = QueryPlan(segment_length=10, absorbing=True)
    check_form(BestOfThree(), episodes, plan, answer=lambda q: 2.0)
    env = make_env(task, seed=0)
    model = LinearBT(4)
    check_reward_model(model, env.observation_space, env.action_space)
    qs = BestOfThree().queries(episodes, 12, np.random.default_rng(0), plan)
    labels = TrueReturnJudge().judge(task, qs)
    targets = BestOfThree().targets(list(zip(qs, labels, strict=True)), np.random.default_rng(0), TargetPlan())
    rows = np.concatenate([e.obs for e in episodes])[:10]
    check_fittable(model, targets, tmp_path / "m.npz", rows, np.zeros((10, 1), np.float32))

"""The contract checkers run over every registered feedback form and reward model, on several tasks.

Like gymnasium's env checker run over every registered env: a form or a reward
model added to a registry is checked here without a line of test code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import judgerl.testing.dict_env  # noqa: F401  (registers test/dict-cartpole-v0)
from judgerl.config import load_config
from judgerl.envs.collect import collect_episodes
from judgerl.envs.factory import make_env
from judgerl.envs.spaces import flatten_batch
from judgerl.forms import QueryPlan, TargetPlan, form_names, get_form
from judgerl.forms.check import FormContractError, check_form
from judgerl.judges.oracle import OracleJudge
from judgerl.reward.check import check_fittable, check_reward_model, check_reward_stream
from judgerl.reward.registry import RewardSpec, get_reward_entry, reward_model_names
from judgerl.tasks import get_task
from judgerl.types import Episode, Label, Provenance, Query

TASKS = {
    "cartpole": "cartpole/balance-v0",  # Box observations, discrete actions, terminations
    "pendulum": "pendulum/swingup-v0",  # continuous actions, time limit only
    "homegrid": "homegrid/cat-values-v0",  # grid observations (12, 14, 4), the episode verdict task
    "dict": "test/dict-cartpole-v0",  # Dict observations
}
_EPISODES: dict[str, list[Episode]] = {}


def episodes(name: str) -> list[Episode]:
    if name not in _EPISODES:
        task = get_task(TASKS[name])
        _EPISODES[name] = collect_episodes(task, 900, seed=0, n_envs=3)[0]
    return _EPISODES[name]


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("form", form_names())
def test_every_form_keeps_the_contract(form: str, task: str) -> None:
    spec = get_task(TASKS[task])
    check_form(get_form(form), episodes(task), QueryPlan(segment_length=10, absorbing=spec.absorbing))


def test_the_form_checker_catches_a_form_that_coerces_failures() -> None:
    pairwise = get_form("pairwise")

    class Coercing:
        name, arity, targets_kind = "pairwise", 2, "preferences"
        queries, targets = pairwise.queries, pairwise.targets

        def label(self, query: Query, answer: float | None, provenance: Provenance) -> Label:
            return Label(query.key, "ok", provenance, preference=0.5 if answer is None else answer)  # a tie: wrong

    with pytest.raises(FormContractError, match="failed label"):
        check_form(Coercing(), episodes("cartpole"), QueryPlan(segment_length=10, absorbing=True))  # type: ignore[arg-type]


def _targets(entry_fits: str, task: str):
    spec = get_task(TASKS[task])
    form = get_form("pairwise" if entry_fits == "preferences" else "episode")
    rng = np.random.default_rng(0)
    queries = form.queries(episodes(task), 24, rng, QueryPlan(segment_length=10, absorbing=spec.absorbing))
    labels = OracleJudge(seed=0).judge(spec, queries)
    return form.targets(
        list(zip(queries, labels, strict=True)), rng, TargetPlan(val_fraction=0.25, truth=spec.oracle_verdict)
    )


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("name", reward_model_names())
def test_every_reward_model_keeps_the_contract(name: str, task: str, tmp_path: Path) -> None:
    if name == "zero_shot" and task == "homegrid":
        pytest.skip("random samples of the grid space are not homegrid states its captioner can describe")
    if name == "caption_preference" and task in ("pendulum", "homegrid"):
        # A text model: each new caption costs a MiniLM forward pass. CartPole and the Dict CartPole check it
        # (and NetHack, tests/unit/test_caption_reward.py); these two tasks would only add encoding time.
        pytest.skip("caption_preference is checked on cartpole, dict and NetHack")
    spec = get_task(TASKS[task])
    env = make_env(spec, seed=0)
    cfg = load_config(None, ["reward.epochs=3", "reward.ensemble_size=2", "judge.type=embedding"])
    entry = get_reward_entry(name)
    model = entry.build(RewardSpec(spec, env.observation_space, env.action_space, cfg, 0))
    sequential = callable(getattr(model, "stream", None))
    if sequential:
        check_reward_stream(model, env.observation_space)
    else:
        check_reward_model(model, env.observation_space, env.action_space)
    if entry.fits is None:
        return
    eps = episodes(task)
    rows = np.concatenate([e.obs for e in eps])[:12]
    acts = np.concatenate([e.acts for e in eps])[:12]
    metrics = check_fittable(model, _targets(entry.fits, task), tmp_path / "model.pt", rows, acts)
    assert metrics
    assert entry.load is not None
    loaded = entry.load(tmp_path / "model.pt")
    if sequential:
        check_reward_stream(loaded, env.observation_space)
    else:
        check_reward_model(loaded, env.observation_space, env.action_space)


def test_dict_observations_flatten_in_the_spaces_key_order() -> None:
    env = make_env(get_task(TASKS["dict"]), seed=0)
    obs, _ = env.reset(seed=1)
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    rows = flatten_batch(env.observation_space, batch, 2)
    np.testing.assert_array_equal(rows[0], np.concatenate([obs["cart"], obs["pole"]]))
    assert rows.shape == (2, 4) and rows.dtype == np.float32

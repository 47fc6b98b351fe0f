# mypy: disable-error-code="call-arg"
"""judge.zero_shot.actors: zero-shot scoring in a pool of Ray actors on a local Ray (127.0.0.1 only).

The pool must give the very scores the in-process judge gives, in order, from
other processes; a run scored through actors must train exactly the agent a run
scored in-process trains (the reward's contract does not change).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from judgerl.config import ConfigError, load_config, validate_references
from judgerl.tasks import get_task

ray = pytest.importorskip("ray", reason="extra `ray` not installed")
pytest.importorskip("transformers", reason="extra `clip` not installed")
torch = pytest.importorskip("torch")

CART = get_task("cartpole/balance-v0")
CLIP_SETS = (
    "task.id=cartpole/balance-v0",
    "reward.model=zero_shot",
    "judge.type=clip",
    "judge.zero_shot.alpha=0.5",
    "judge.zero_shot.goal_text=pole vertically upright on top of the cart",
    "judge.zero_shot.baseline_text=pole and cart",
    "judge.zero_shot.device=cpu",
)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """One local Ray for the module (its start is the expensive part), on loopback, 2 CPUs."""
    from judgerl.sweep.backends import start_ray

    r, started = start_ray(None, 2)
    yield r
    if started:
        r.shutdown()


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from judgerl.testing.tiny_clip import save_random_clip

    return save_random_clip(tmp_path_factory.mktemp("tinyclip"))


def frames(n: int, seed: int = 0) -> np.ndarray:
    """``n`` distinct random RGB frames at the tiny model's size."""
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_the_pool_scores_like_the_judge_in_order_from_other_processes(local_ray: Any, tiny_clip: Path) -> None:
    from judgerl.judges.zero_shot import build_clip_judge
    from judgerl.reward.score_pool import ActorPoolScorer

    cfg = load_config(None, [*CLIP_SETS, f"judge.zero_shot.model={tiny_clip}"])
    here = build_clip_judge(cfg.judge, CART, 0)
    pool = ActorPoolScorer(cfg.judge, CART, actors=2)
    try:
        pids = pool.pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        batch = frames(7)
        np.testing.assert_allclose(pool.score_frames(batch), here.score_frames(batch), rtol=1e-5, atol=1e-6)
        # Fewer items than actors, a single item, none: still in order and the right length.
        np.testing.assert_allclose(pool.score_frames(batch[:1]), here.score_frames(batch[:1]), rtol=1e-5, atol=1e-6)
        assert pool.score_frames(batch[:0]).shape == (0,)
        assert pool.calls == 2  # an empty batch sends nothing
    finally:
        pool.close()
    assert ray.is_initialized()  # the pool did not start this Ray, so it leaves it running


# The caption branch starts one more actor, which imports sentence-transformers (~4 s on 2 busy cores); the
# frames branch above and the run below keep the pool in the default tier.
@pytest.mark.slow
def test_the_pool_scores_captions_like_the_embedding_judge(local_ray: Any) -> None:
    from judgerl.judges.zero_shot import build_embedding_judge
    from judgerl.reward.score_pool import ActorPoolScorer

    text = load_config(None, ["task.id=cartpole/balance-v0", "judge.type=embedding", "judge.zero_shot.device=cpu"])
    captions = [CART.captioner(np.array([x, 0.0, th, 0.0])) for x in (-2.0, 0.0, 1.5) for th in (-0.15, 0.0, 0.1)]
    pool = ActorPoolScorer(text.judge, CART, actors=1)  # the caption branch; splitting is checked above
    try:
        expected = build_embedding_judge(text.judge, CART, 0).score_captions(captions)
        np.testing.assert_allclose(pool.score_captions(captions), expected, rtol=1e-5, atol=1e-6)
    finally:
        pool.close()


def test_a_run_scored_by_actors_trains_the_same_agent_as_one_scored_here(
    local_ray: Any, tiny_clip: Path, tmp_path: Path
) -> None:
    from judgerl.loop import run

    def one(name: str, actors: int) -> tuple[dict[str, Any], dict[str, Any]]:
        cfg = load_config(
            None,
            [
                *CLIP_SETS,
                f"judge.zero_shot.model={tiny_clip}",
                f"judge.zero_shot.actors={actors}",
                f"runs_dir={tmp_path}",
                f"name={name}",
                "iterations=1",
                "agent.total_timesteps=256",
                "eval.episodes=2",
                "eval.fresh_agent=false",
                "eval.gif_frames=0",
                "env.n_envs=4",
            ],
        )
        validate_references(cfg)
        run(cfg)
        records = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return next(r for r in records if r["stage"] == "iteration"), json.loads(
            (tmp_path / name / "eval.json").read_text()
        )

    it_here, ev_here = one("here", 0)
    it_pool, ev_pool = one("pool", 1)  # one actor: what moves out of the run is checked, splitting is above
    assert it_pool["zero_shot/frames_scored"] == it_here["zero_shot/frames_scored"] == 256
    assert it_pool["zero_shot/encoder_calls"] == it_here["zero_shot/encoder_calls"] == 256 // (32 * 4)
    assert it_pool["agent/learned_return"] == pytest.approx(it_here["agent/learned_return"], rel=1e-5)
    assert ev_pool["eval/return_mean"] == ev_here["eval/return_mean"]


def test_actors_ray_cannot_place_give_a_clear_error_not_a_hang(local_ray: Any, tiny_clip: Path) -> None:
    from judgerl.reward.score_pool import ActorPoolScorer

    cfg = load_config(None, [*CLIP_SETS, f"judge.zero_shot.model={tiny_clip}"])
    with pytest.raises(RuntimeError, match=r"1 of 1 scoring actors did not start within 0.5 s.*0 GPU\(s\) free"):
        ActorPoolScorer(cfg.judge, CART, actors=1, gpus=1.0, ready_timeout_s=0.5)  # this Ray has no GPU


def test_score_actors_need_the_zero_shot_reward() -> None:
    cfg = load_config(None, ["judge.zero_shot.actors=2"])  # the oracle judge and the preference ensemble
    with pytest.raises(ConfigError, match=r"judge.zero_shot.actors: only reward.model=zero_shot.*set judge.zero_shot"):
        validate_references(cfg)

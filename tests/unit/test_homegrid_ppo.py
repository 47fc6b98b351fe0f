"""Slow: PPO with the tuned defaults learns the naive fetch policy, which crushes the cat often (seed 003)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from judgerl.envs.homegrid_policy import evaluate_facts, rollout_episodes, train_naive_policy
from judgerl.reward.episode_classifier import EpisodeClassifier, VerdictFitConfig, fit_verdicts


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_naive_ppo_reaches_the_fruit_and_often_harms_the_cat(seed: int) -> None:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = train_naive_policy(500_000, seed=seed, cnn=True)
    wall = time.perf_counter() - t0
    facts = evaluate_facts(model, episodes=1000, seed=100 + seed)
    print(f"\nseed {seed}: {wall:.0f} s training; {facts}")
    assert facts["eval/fruit_reached_rate"] > 0.9
    assert facts["eval/cat_harmed_rate"] > 0.3
    # A classifier of whole naive episodes recovers the harm verdict from the grids (incl. the final one).
    grids, _, harmed, _ = rollout_episodes(model, 600, seed=200 + seed)
    torch.manual_seed(seed)
    clf = EpisodeClassifier(hidden=32, channels=8)
    metrics = fit_verdicts(
        clf, grids, (~harmed).astype(np.float32), VerdictFitConfig(epochs=10), np.random.default_rng(seed)
    )
    print(metrics)
    assert metrics["reward/classifier_val_accuracy"] > 0.9

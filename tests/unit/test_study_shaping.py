"""The feedback reward wrapper: task reward + w × classifier term, with the task reward kept in infos."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
import torch

from judgerl.envs.homegrid import episode_grids
from judgerl.envs.homegrid_vec import HomegridSB3VecEnv
from judgerl.reward.episode_classifier import predict_prefix
from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble
from judgerl.study.episodes import EpisodeBank
from judgerl.study.shaping import ClassifierRewardVecEnv


@pytest.mark.parametrize("mode", ["shaping", "episode_end"])
def test_reward_is_task_reward_plus_weighted_classifier_term(mode: Literal["shaping", "episode_end"]) -> None:
    torch.manual_seed(0)
    ens = EpisodeClassifierEnsemble.create(2, hidden=8, channels=4, seed=0)
    n, w = 4, 2.5
    env = ClassifierRewardVecEnv(HomegridSB3VecEnv(n, seed=1), ens, weight=w, mode=mode)
    obs = env.reset()
    rng = np.random.default_rng(0)
    seqs: list[list[np.ndarray]] = [[obs[i].copy()] for i in range(n)]
    terms: list[list[float]] = [[] for _ in range(n)]
    finished: list[tuple[np.ndarray, list[float]]] = []
    for _ in range(300):
        step_obs, rewards, dones, infos = env.step(rng.integers(0, 4, n))
        obs = np.asarray(step_obs)
        for i in range(n):
            assert rewards[i] == pytest.approx(infos[i]["env_reward"] + infos[i]["classifier_term"], abs=1e-6)
            terms[i].append(infos[i]["classifier_term"])
            if dones[i]:
                seqs[i].append(infos[i]["terminal_observation"])
                finished.append((np.stack(seqs[i]), terms[i]))
                seqs[i], terms[i] = [obs[i].copy()], []
            else:
                seqs[i].append(obs[i].copy())
    assert len(finished) >= 4
    # The streamed prefix probabilities match the offline ones on the same grids.
    for grids, term in finished[:4]:
        p = np.mean([predict_prefix(m, [grids])[0] for m in ens.members], axis=0)
        if mode == "shaping":
            assert sum(term) == pytest.approx(w * (p[-1] - p[0]), abs=1e-4)
        else:
            assert term[-1] == pytest.approx(w * (p[-1] - 1.0), abs=1e-4)
            assert all(t == 0.0 for t in term[:-1])


def test_episode_bank_round_trips_grids(tmp_path: object) -> None:
    from judgerl.envs.homegrid_policy import rollout_episodes

    class _Random:
        def predict(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, None]:
            return np.random.default_rng(len(obs)).integers(0, 4, len(obs)), None

    grids, acts, harmed, reached = rollout_episodes(_Random(), 20, seed=3, n_envs=10)
    bank = EpisodeBank.from_rollouts(grids, acts, harmed, reached)
    for i in range(len(grids)):
        np.testing.assert_array_equal(bank.grids(i), grids[i])
        np.testing.assert_array_equal(bank.episode_actions(i), acts[i])
    assert episode_grids(grids[0][:-1], grids[0][-1]).shape == grids[0].shape

"""The feedback reward: task reward + w × (episode classifier term), batched over a VecEnv.

Two forms (``FeedbackConfig.mode``):

* ``shaping`` (default): after each step the classifier has seen the episode so
  far and gives ``P_t = P(aligned | grids 0..t)``; the step's reward is
  ``r_t + w·(P_t − P_{t−1})``. The terms telescope to ``w·(P_T − P_0)``: the
  same credit as a verdict at the episode's end minus a constant the agent
  cannot change, but delivered on the step where the classifier's belief drops
  (the crush), which is far easier for PPO to assign. It is *not*
  potential-based shaping in Ng et al.'s sense: there the potential of the
  final state is zeroed, the terms cancel and the optimal policy — crushing
  included — would be unchanged. Here the final belief is kept on purpose: it
  is the judge's verdict that should change the policy.
* ``episode_end``: ``w·(P_T − 1)`` on the last step only (seed 003's form: a
  penalty for a "not aligned" episode, nothing for an aligned one).

The classifier's GRU is streamed one grid per step (``EpisodeClassifier.step``)
for the running envs only, so no prefix is ever re-run. The classifier sees the
grid before the first step and then the grid after each step, exactly the
``episode_grids`` it was trained on; at an episode end SB3's
``terminal_observation`` is the grid after the last step.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble


class ClassifierRewardVecEnv(VecEnvWrapper):
    """Adds the classifier term to the env's reward; ``info["env_reward"]`` keeps the task reward.

    Args:
        venv: The task env (e.g. ``HomegridSB3VecEnv``), observations ``(n, 12, 14, 4)``.
        ensemble: Fitted episode classifier(s); the mean P(aligned) of members is used.
        weight: ``w``.
        mode: ``shaping`` or ``episode_end`` (module docstring).

    Each step's infos also get ``classifier_term`` (what was added) and
    ``classifier_p`` (P(aligned) of the prefix so far).
    """

    def __init__(
        self,
        venv: VecEnv,
        ensemble: EpisodeClassifierEnsemble,
        weight: float,
        mode: Literal["shaping", "episode_end"] = "shaping",
    ) -> None:
        super().__init__(venv)
        self.ensemble = ensemble
        self.weight = float(weight)
        self.mode = mode
        n = self.num_envs
        self._h = [torch.zeros(1, n, m.hidden) for m in ensemble.members]
        self._p = np.ones(n, np.float32)

    @torch.no_grad()
    def _advance(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Feed one grid to the GRUs of envs ``rows``; returns their new mean P(aligned), shape ``(len(rows),)``."""
        x = torch.from_numpy(np.asarray(obs, np.float32).reshape(len(rows), *self.ensemble.input_shape))
        r = torch.from_numpy(rows)
        probs = []
        for i, m in enumerate(self.ensemble.members):
            m.eval()
            logits, h_new = m.step(x, self._h[i][:, r].contiguous())
            self._h[i][:, r] = h_new
            probs.append(torch.sigmoid(logits))
        return torch.stack(probs).mean(0).numpy().astype(np.float32)

    def _restart(self, obs: np.ndarray, rows: np.ndarray) -> None:
        for h in self._h:
            h[:, torch.from_numpy(rows)] = 0.0
        self._p[rows] = self._advance(obs, rows)

    def reset(self) -> np.ndarray:
        """Reset all envs and score their first grids (``P_0``)."""
        obs = np.asarray(self.venv.reset())
        self._restart(obs, np.arange(self.num_envs))
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        """Step, add ``w × term`` to each reward, restart the classifier state of finished envs."""
        obs, rewards, dones, infos = self.venv.step_wait()
        obs_arr = np.asarray(obs)
        after = obs_arr.copy()
        done_rows = np.flatnonzero(dones)
        for i in done_rows:
            after[i] = infos[i]["terminal_observation"]
        rows = np.arange(self.num_envs)
        p = self._advance(after, rows)
        end_term = np.where(dones, p - 1.0, 0.0).astype(np.float32)
        term = p - self._p if self.mode == "shaping" else end_term
        env_rewards = np.asarray(rewards, np.float32)
        new_rewards = env_rewards + self.weight * term
        for i in rows:
            infos[i]["env_reward"] = float(env_rewards[i])
            infos[i]["classifier_term"] = float(self.weight * term[i])
            infos[i]["classifier_p"] = float(p[i])
        self._p = p
        if len(done_rows):
            self._restart(obs_arr[done_rows], done_rows)
        return obs, new_rewards, dones, infos

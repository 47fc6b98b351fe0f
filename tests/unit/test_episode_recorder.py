"""EpisodeRecorder: finished episodes, and fragments of long ones for online labelling."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from judgerl.envs.episode_recorder import EpisodeRecorder
from judgerl.tasks import get_task

SPACE = spaces.Box(-10.0, 10.0, (4,), np.float32)


def _step(rec: EpisodeRecorder, t: int, n_envs: int, done: tuple[int, ...] = ()) -> None:
    # Observation t of env i is (i, t, 0, 0): every step is recognisable afterwards.
    obs = np.array([[i, t, 0, 0] for i in range(n_envs)], np.float32)
    dones = np.array([i in done for i in range(n_envs)])
    infos = [
        {"terminal_observation": np.array([i, t + 1, 0, 0], np.float32)} if i in done else {} for i in range(n_envs)
    ]
    rec.record(obs, np.zeros((n_envs, 1), np.float32), np.full(n_envs, float(t), np.float32), dones, infos)


def test_long_episodes_are_cut_into_fragments_that_lose_and_repeat_no_step() -> None:
    rec = EpisodeRecorder(get_task("cartpole/balance-v0"), SPACE, 2)
    for t in range(10):
        _step(rec, t, 2)
    assert rec.take() == []  # finished episodes only: nothing yet
    first = rec.take(fragment_steps=5)
    assert [e.length for e in first] == [9, 9] and rec.fragments == 2
    assert all(not e.terminated and not e.truncated and not e.complete for e in first)
    assert [float(e.final_obs[1]) for e in first] == [9.0, 9.0]  # the step after the fragment's last one
    assert len(first[0].captions) == 9 and first[0].final_caption
    assert rec.take(fragment_steps=5) == []  # one step left over: below the bar
    for t in range(10, 14):
        _step(rec, t, 2, done=(0,) if t == 13 else ())
    last = rec.take(fragment_steps=50)  # env 0 finished; env 1's 5 steps stay for later
    assert len(last) == 1 and last[0].terminated and float(last[0].obs[0, 0]) == 0.0
    steps = [float(x) for e in (first[0], last[0]) for x in e.obs[:, 1]]
    assert steps == [float(t) for t in range(14)]  # env 0: every step once, in order
    assert [float(r) for e in (first[0], last[0]) for r in e.env_rewards] == steps
    assert float(last[0].final_obs[1]) == 14.0
    ids = [e.episode_id for e in (*first, *last)]
    assert len(set(ids)) == 3


def test_fragments_are_off_when_asked_for_zero_steps() -> None:
    rec = EpisodeRecorder(get_task("cartpole/balance-v0"), SPACE, 1)
    for t in range(700):
        _step(rec, t, 1)
    assert rec.take(fragment_steps=0) == [] and rec.fragments == 0
    assert [e.length for e in rec.take(fragment_steps=500)] == [699]

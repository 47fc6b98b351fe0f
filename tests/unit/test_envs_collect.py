import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from judgerl.envs.collect import collect_episodes
from judgerl.envs.factory import make_env
from judgerl.tasks import get_task

CART = get_task("cartpole/balance-v0")
PEND = get_task("pendulum/swingup-v0")


@pytest.mark.parametrize(("n_steps", "n_envs"), [(1003, 4), (7, 4), (1, 3), (250, 1)])
def test_spends_exactly_n_steps(n_steps, n_envs):
    episodes, spent = collect_episodes(CART, n_steps, seed=0, n_envs=n_envs, episode_prefix="it0-")
    assert spent == n_steps
    assert sum(ep.length for ep in episodes) == n_steps
    ids = [ep.episode_id for ep in episodes]
    assert len(set(ids)) == len(ids) and all(i.startswith("it0-0-") for i in ids)
    for ep in episodes:
        assert ep.obs.shape == (ep.length, 4) and ep.acts.shape == (ep.length, 1)
        assert ep.obs.dtype == np.float32 and ep.acts.dtype == np.float32
        assert len(ep.captions) == ep.length and ep.frames is None
        assert ep.true_return == ep.length  # CartPole: +1 per step


def test_terminal_observation_and_tails():
    episodes, _ = collect_episodes(CART, 600, seed=5, n_envs=3)
    terminated = [ep for ep in episodes if ep.terminated]
    tails = episodes[-3:]
    assert len(terminated) >= 10 and all(not ep.terminated for ep in tails)
    for ep in terminated:
        x, _, theta, _ = ep.final_obs
        assert abs(theta) > 0.2095 or abs(x) > 2.4  # the observation that ended it, not a reset one
        assert np.all(np.abs(ep.obs[:, 2]) <= 0.2095)
    # Replaying an episode's actions from the same seed gives the same observations.
    env = make_env(CART)
    found = False
    for ep in terminated:  # env 0's first episode is one of the terminated ones
        obs, _ = env.reset(seed=5)
        if not np.allclose(obs, ep.obs[0]):
            continue
        for t in range(ep.length):
            np.testing.assert_allclose(obs, ep.obs[t], rtol=1e-6)
            obs, r, term, trunc, _ = env.step(int(ep.acts[t, 0]))
        np.testing.assert_allclose(obs, ep.final_obs, rtol=1e-6)
        assert term
        found = True
        break
    assert found


def test_truncated_episodes_are_not_terminated():
    episodes, _ = collect_episodes(PEND, 450, seed=0, n_envs=2, captions=False)
    assert [ep.length for ep in episodes] == [200, 200, 25, 25]
    assert not any(ep.terminated for ep in episodes)
    assert all(ep.captions == () for ep in episodes)
    assert all(np.all(np.abs(ep.acts) <= 2.0) for ep in episodes)


def test_seeded_collection_is_deterministic():
    a, _ = collect_episodes(PEND, 90, seed=3, n_envs=2)
    b, _ = collect_episodes(PEND, 90, seed=3, n_envs=2)
    c, _ = collect_episodes(PEND, 90, seed=4, n_envs=2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.obs, y.obs)
        np.testing.assert_array_equal(x.acts, y.acts)
    assert not np.array_equal(a[0].obs, c[0].obs)


def test_policy_is_called_with_batches_and_clipped():
    shapes = []

    def policy(obs):
        shapes.append(obs.shape)
        return np.full((len(obs), 1), 5.0)  # out of Pendulum's [-2, 2] bounds

    episodes, _ = collect_episodes(PEND, 10, seed=0, policy=policy, n_envs=4)
    assert shapes == [(4, 3), (4, 3), (2, 3)]
    assert all(np.all(ep.acts == 2.0) for ep in episodes)
    always_right, _ = collect_episodes(CART, 40, seed=0, policy=lambda o: np.ones(len(o), int), n_envs=2)
    assert all(np.all(ep.acts == 1.0) for ep in always_right)


def test_frames_and_captions():
    episodes, _ = collect_episodes(CART, 12, seed=0, render=True, n_envs=2, frame_size=64)
    for ep in episodes:
        assert ep.frames is not None and ep.frames.shape == (ep.length, 43, 64, 3)
        assert ep.frames.dtype == np.uint8 and ep.frames.any()
        assert ep.captions[0] == CART.captioner(ep.obs[0])


class _FactsEnv(gym.Env):
    """Five steps, then terminates and reports a fact."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == 5
        info = {"episode_facts": {"cat_harmed": bool(action == 1), "name": "x"}} if done else {}
        return np.full(2, self.t / 10, np.float32), 1.0, done, False, info


def test_episode_facts_reach_episode_infos():
    gym.register("JudgerlFactsTest-v0", entry_point=_FactsEnv)
    task = dataclasses.replace(
        CART, id="test/facts-v0", env_id="JudgerlFactsTest-v0", max_episode_steps=50, captioner=lambda o: "a state"
    )
    episodes, _ = collect_episodes(task, 12, seed=0, policy=lambda o: np.ones(len(o), int), n_envs=1)
    assert [ep.length for ep in episodes] == [5, 5, 2]
    assert episodes[0].infos["cat_harmed"] is True and episodes[0].terminated
    assert episodes[2].infos == {}
    np.testing.assert_allclose(episodes[0].final_obs, [0.5, 0.5])


def _always(action: int):
    return lambda o: np.full(len(o), action, int)


def test_noise_levels_replace_actions_at_their_rate():
    # Always-push-right CartPole: every action that is 0 was put there by the ε-greedy noise.
    episodes, spent = collect_episodes(CART, 4000, seed=0, policy=_always(1), n_envs=2, noise=(0.0, 0.5))
    assert spent == 4000 and sum(ep.length for ep in episodes) == 4000
    # Env 0 runs the plain policy, env 1 at ε = 0.5: each level gets half of the steps.
    left = [float(np.mean(ep.acts == 0)) for ep in episodes if ep.terminated]
    plain = [f for f in left if f == 0.0]
    noisy = [f for f in left if f > 0.0]
    assert len(plain) >= 20 and len(noisy) >= 20
    noisy_steps = sum(ep.length for ep in episodes if np.any(ep.acts == 0))
    assert 1900 <= noisy_steps <= 2000  # env 1's 2000 steps, less its episodes that drew no random 0
    all_noisy = np.concatenate([ep.acts[:, 0] for ep in episodes if ep.terminated and np.any(ep.acts == 0)])
    assert 0.15 < np.mean(all_noisy == 0) < 0.35  # ε = 0.5, and a random action is "left" half the time
    # Full noise is a random policy whatever the policy says; on a Box space too, within bounds.
    rand, _ = collect_episodes(CART, 500, seed=1, policy=_always(1), n_envs=2, noise=(1.0,))
    assert 0.4 < np.mean(np.concatenate([ep.acts[:, 0] for ep in rand]) == 0) < 0.6
    pend, _ = collect_episodes(PEND, 400, seed=0, policy=lambda o: np.full((len(o), 1), 2.0), n_envs=2, noise=(1.0,))
    acts = np.concatenate([ep.acts[:, 0] for ep in pend])
    assert np.all(np.abs(acts) <= 2.0) and np.mean(acts == 2.0) < 0.05


def test_noise_shows_failures_and_defaults_to_the_plain_policy():
    # A balancing controller survives; the same controller with ε-greedy noise lets the pole fall sooner.
    def balance(o):
        return (o[:, 2] + 0.5 * o[:, 3] > 0).astype(int)

    plain, _ = collect_episodes(CART, 2000, seed=0, policy=balance, n_envs=4)
    mixed, _ = collect_episodes(CART, 2000, seed=0, policy=balance, n_envs=4, noise=(0.0, 0.5, 1.0))
    assert sum(ep.terminated for ep in mixed) > sum(ep.terminated for ep in plain) + 10
    # (0.0,) is exactly the plain policy (no extra random numbers), and a random policy ignores the levels.
    same, _ = collect_episodes(CART, 2000, seed=0, policy=balance, n_envs=4, noise=(0.0,))
    for x, y in zip(plain, same, strict=True):
        np.testing.assert_array_equal(x.acts, y.acts)
    r0, _ = collect_episodes(CART, 300, seed=2, n_envs=2)
    r1, _ = collect_episodes(CART, 300, seed=2, n_envs=2, noise=(0.0, 0.5))
    for x, y in zip(r0, r1, strict=True):
        np.testing.assert_array_equal(x.acts, y.acts)
    # Seeded: the same call gives the same noisy episodes.
    again, _ = collect_episodes(CART, 2000, seed=0, policy=balance, n_envs=4, noise=(0.0, 0.5, 1.0))
    for x, y in zip(mixed, again, strict=True):
        np.testing.assert_array_equal(x.acts, y.acts)


@pytest.mark.parametrize("noise", [(), (1.5,), (-0.1, 0.0)])
def test_noise_levels_are_probabilities(noise):
    with pytest.raises(ValueError, match="noise levels"):
        collect_episodes(CART, 10, seed=0, policy=_always(1), noise=noise)

import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from judgerl.config import RewardConfig
from judgerl.reward.base import RewardModel
from judgerl.reward.check import RewardModelContractError, check_reward_model, sample_transitions
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.reward.features import Featurizer
from judgerl.types import Segment

BOX_OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
SPACES = {
    "cartpole-like": (gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(2)),
    "pendulum-like": (BOX_OBS, gym.spaces.Box(-2.0, 2.0, (1,), np.float32)),
    "image-obs-multidiscrete": (gym.spaces.Box(0, 255, (2, 3, 2), np.uint8), gym.spaces.MultiDiscrete([3, 2])),
}


def _ensemble(k: int = 3, seed: int = 0, **cfg: object) -> RewardEnsemble:
    return RewardEnsemble(
        Featurizer(3, gym.spaces.Box(-2.0, 2.0, (1,), np.float32)),
        RewardConfig.model_validate({"ensemble_size": k, "hidden_sizes": [16, 16], **cfg}),
        seed,
    )


def _segment(rng: np.random.Generator, t: int = 6, shift: float = 0.0) -> Segment:
    return Segment(
        (rng.normal(size=(t, 3)) + shift).astype(np.float32),
        rng.uniform(-2, 2, (t, 1)).astype(np.float32),
        np.zeros(t, np.float32),
        np.zeros(t, np.float32),
    )


def test_predict_is_member_mean_and_std_is_member_spread():
    ens = _ensemble()
    obs, acts, dones = sample_transitions(BOX_OBS, gym.spaces.Box(-2.0, 2.0, (1,), np.float32), 10)
    members = ens.predict_members(obs, acts, dones)
    assert members.shape == (3, 10) and members.dtype == np.float32
    r = ens.predict(obs, acts, dones)
    assert r.shape == (10,) and r.dtype == np.float32
    np.testing.assert_allclose(r, members.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ens.predict_std(obs, acts, dones), members.std(axis=0), rtol=1e-5, atol=1e-6)
    assert isinstance(ens, RewardModel)


def test_absorbing_rows_pinned_to_zero_only_when_configured():
    obs = np.ones((4, 3), np.float32)
    acts = np.zeros((4, 1), np.float32)
    dones = np.array([0, 1, 0, 1], np.float32)
    r = _ensemble().predict(obs, acts, dones)
    assert r[1] == 0.0 and r[3] == 0.0 and np.all(r[[0, 2]] != 0.0)
    free = _ensemble(zero_absorbing=False).predict(obs, acts, dones)
    assert free[1] != 0.0 and free[1] == free[3]  # one canonical absorbing state


def test_segment_returns_sum_member_rewards():
    rng = np.random.default_rng(0)
    ens = _ensemble()
    segs = [_segment(rng, t=5), _segment(rng, t=5)]
    ret = ens.segment_returns(segs)
    assert ret.shape == (3, 2)
    for j, s in enumerate(segs):
        np.testing.assert_allclose(ret[:, j], ens.predict_members(s.obs, s.acts, s.dones).sum(axis=1), rtol=1e-5)
    assert ens.segment_returns([]).shape == (3, 0)


def test_pair_std_shape_range_and_zero_cases():
    rng = np.random.default_rng(1)
    ens = _ensemble(k=4)
    segs = [_segment(rng) for _ in range(6)]
    pairs = [(segs[i], segs[i + 1]) for i in range(5)] + [(segs[0], segs[0])]
    ps = ens.pair_std(pairs)
    assert ps.shape == (6,) and ps.dtype == np.float32
    assert np.all(ps >= 0) and np.all(ps <= 0.5) and np.all(np.isfinite(ps))
    assert ps[-1] == 0.0  # identical segments: every member says 0.5
    assert ps[:-1].max() > 0.0  # independently initialised members disagree somewhere
    assert np.all(_ensemble(k=1).pair_std(pairs) == 0.0)
    assert ens.pair_std([]).shape == (0,)


def test_seeding_reproducible_and_leaves_global_rng_alone():
    obs, acts, _ = sample_transitions(BOX_OBS, gym.spaces.Box(-2.0, 2.0, (1,), np.float32), 5)
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = _ensemble(seed=7)
    assert torch.rand(1) == expected
    np.testing.assert_array_equal(a.predict(obs, acts), _ensemble(seed=7).predict(obs, acts))
    assert not np.allclose(a.predict(obs, acts), _ensemble(seed=8).predict(obs, acts))
    m = a.predict_members(obs, acts)
    assert not np.allclose(m[0], m[1])  # members differ


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    ens = _ensemble(k=2, seed=3, activation="tanh")
    ens.fit_standardizer(
        torch.as_tensor(rng.normal(5.0, 3.0, size=(50, ens.featurizer.n_features)), dtype=torch.float32)
    )
    path = tmp_path / "reward_model.pt"
    ens.save(path)
    back = RewardEnsemble.load(path)
    assert back.cfg == ens.cfg and back.featurizer.spec() == ens.featurizer.spec() and back.is_fitted
    obs, acts, dones = sample_transitions(BOX_OBS, gym.spaces.Box(-2.0, 2.0, (1,), np.float32), 20)
    np.testing.assert_array_equal(back.predict_members(obs, acts, dones), ens.predict_members(obs, acts, dones))
    segs = [_segment(rng), _segment(rng)]
    np.testing.assert_array_equal(back.pair_std([tuple(segs)]), ens.pair_std([tuple(segs)]))


def test_load_rejects_foreign_files(tmp_path):
    torch.save({"format": "something else"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a judgerl RewardEnsemble"):
        RewardEnsemble.load(tmp_path / "x.pt")
    _ensemble().save(tmp_path / "y.pt")
    blob = torch.load(tmp_path / "y.pt", weights_only=True)
    blob["version"] = 999
    torch.save(blob, tmp_path / "y.pt")
    with pytest.raises(ValueError, match="format version 999"):
        RewardEnsemble.load(tmp_path / "y.pt")


class _Good:
    def predict(self, obs, acts, dones=None):
        d = np.zeros(len(obs)) if dones is None else dones
        return (obs.sum(axis=1) * (1 - d)).astype(np.float32)


class _WrongShape(_Good):
    def predict(self, obs, acts, dones=None):
        return super().predict(obs, acts, dones)[:, None]


class _IntDtype(_Good):
    def predict(self, obs, acts, dones=None):
        return np.zeros(len(obs), np.int64)


class _AList(_Good):
    def predict(self, obs, acts, dones=None):
        return list(super().predict(obs, acts, dones))


class _NaN(_Good):
    def predict(self, obs, acts, dones=None):
        out = super().predict(obs, acts, dones)
        out[0] = np.nan
        return out


class _Random(_Good):
    def predict(self, obs, acts, dones=None):
        return np.random.default_rng().normal(size=len(obs)).astype(np.float32)


class _BatchNorm(_Good):
    def predict(self, obs, acts, dones=None):
        r = obs.sum(axis=1)
        return (r - r.mean()).astype(np.float32)


class _NoneIsNotZeros(_Good):
    def predict(self, obs, acts, dones=None):
        return np.full(len(obs), 1.0 if dones is None else 0.0, np.float32)


class _Mutates(_Good):
    def predict(self, obs, acts, dones=None):
        obs *= 2
        return super().predict(obs, acts, dones)


class _Raises(_Good):
    def predict(self, obs, acts, dones=None):
        if dones is not None and dones.all():
            raise KeyError("absorbing")
        return super().predict(obs, acts, dones)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (_WrongShape(), "shape"),
        (_IntDtype(), "float32 or float64"),
        (_AList(), "numpy ndarray"),
        (_NaN(), "non-finite"),
        (_Random(), "not deterministic"),
        (_BatchNorm(), "depends on the batch"),
        (_NoneIsNotZeros(), "all zeros"),
        (_Mutates(), "modified its input"),
        (_Raises(), "KeyError for dones=ones"),
        (object(), "no predict"),
    ],
)
def test_check_catches_contract_breaks(model, match):
    obs_space, act_space = SPACES["pendulum-like"]
    check_reward_model(_Good(), obs_space, act_space)
    with pytest.raises(RewardModelContractError, match=match):
        check_reward_model(model, obs_space, act_space)


def test_predict_overhead_sanity():
    """Per-step call for 8 envs: measured and printed, never asserted on time (shared CPU)."""
    obs_space, act_space = SPACES["cartpole-like"]
    model = RewardEnsemble(Featurizer(gym.spaces.flatdim(obs_space), act_space, False), RewardConfig(), 0)
    obs, acts, _ = sample_transitions(obs_space, act_space, 8)
    zeros = np.zeros(8, np.float32)
    first = model.predict(obs, acts, zeros)
    t0 = time.perf_counter()
    for _ in range(200):
        out = model.predict(obs, acts, zeros)
    per_call_us = (time.perf_counter() - t0) / 200 * 1e6
    print(f"RewardEnsemble.predict, 8 rows, K=3: {per_call_us:.0f} us/call")
    np.testing.assert_array_equal(out, first)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()  # no mode leaks out


@pytest.mark.parametrize(
    ("space", "net"),
    [
        (gym.spaces.Discrete(3), {}),
        (gym.spaces.Box(-2.0, 2.0, (2,), np.float32), {}),
        (gym.spaces.Discrete(3), {"activation": "tanh", "hidden_sizes": (16, 8, 4)}),
        (gym.spaces.Box(-2.0, 2.0, (2,), np.float32), {"hidden_sizes": ()}),  # a linear reward
        (gym.spaces.Discrete(3), {"use_action": False}),  # state-only rewards (the default)
        (gym.spaces.Box(-2.0, 2.0, (2,), np.float32), {"use_action": False, "hidden_sizes": ()}),
    ],
)
def test_numpy_hot_path_matches_torch_and_never_serves_stale_weights(space: gym.Space, net: dict) -> None:
    from judgerl.reward.fast_predict import NumpyEnsemble

    ens = RewardEnsemble(Featurizer(4, space, net.get("use_action", True)), RewardConfig(ensemble_size=3, **net), 0)
    assert ens._fast is not None
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(8, 4)).astype(np.float32)
    acts = (
        rng.integers(0, 3, size=(8, 1)) if isinstance(space, gym.spaces.Discrete) else rng.uniform(-3, 3, size=(8, 2))
    ).astype(np.float32)

    def torch_mean() -> np.ndarray:
        return ens._members_rows(obs, acts, None).mean(dim=0).numpy()

    np.testing.assert_allclose(ens.predict(obs, acts), torch_mean(), rtol=1e-5, atol=1e-6)
    # Change the weights in place (as an optimiser step or load_state_dict does): the fast path follows.
    with torch.no_grad():
        for m in ens.members:
            for p in m.parameters():
                p.add_(0.1)
            m.feat_mean.add_(0.5)
    np.testing.assert_allclose(ens.predict(obs, acts), torch_mean(), rtol=1e-5, atol=1e-6)
    assert NumpyEnsemble.supported(ens.featurizer, ens.members)
    other = np.clip(acts[::-1] + 1, 0, 2)  # different actions, still in range
    same = np.allclose(ens.predict(obs, other), ens.predict(obs, acts))
    assert same is (not ens.featurizer.use_action)


def test_restandardize_keeps_the_function_and_follows_the_data() -> None:
    from judgerl.reward.mlp import RewardNet

    torch.manual_seed(0)
    net = RewardNet(4, (16, 8))
    narrow = torch.randn(200, 4) * 0.1
    narrow[:, 3] = 1.0  # a constant column (left unscaled) stays harmless
    net.fit_standardizer(narrow)
    x = torch.randn(64, 4) * 3.0
    before = net(x)
    wide = torch.randn(500, 4) * 2.0 + 1.0
    wide[:, 3] = 1.0
    net.restandardize(wide)
    torch.testing.assert_close(net(x), before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net.feat_mean[:3], wide[:, :3].mean(0), rtol=0, atol=1e-5)
    assert float(net.feat_inv_std[0]) < 1.0  # x now in units of the wide data, not 20 std out
    fresh_net = RewardNet(4, (16, 8))
    fresh_net.restandardize(wide)  # an unfitted net just fits
    assert bool(fresh_net.fitted)


def test_obs_bounds_make_the_reward_flat_beyond_the_labelled_states(tmp_path):
    rng = np.random.default_rng(4)
    ens = _ensemble(k=2, seed=1)
    ens.fit_standardizer(torch.as_tensor(rng.normal(size=(50, ens.featurizer.n_features)), dtype=torch.float32))
    seen = rng.uniform(-1.0, 1.0, size=(200, 3)).astype(np.float32)
    far = np.array([[5.0, -7.0, 0.5], [1.0, -1.0, 0.5]], np.float32)  # out of range, and its clipped image
    acts = np.zeros((2, 1), np.float32)
    unclipped = ens.predict(far, acts)
    assert unclipped[0] != unclipped[1]  # the net extrapolates
    ens.set_obs_bounds(seen)
    lo, hi = ens.obs_bounds
    assert np.all(lo >= -1.0) and np.all(hi <= 1.0)
    edge = np.clip(far, lo, hi)
    for fn in (ens.predict, ens.predict_std):  # numpy hot path and torch path alike
        out = fn(far, acts)
        np.testing.assert_allclose(out[0], fn(edge[:1], acts[:1])[0], rtol=1e-5)
    np.testing.assert_array_equal(
        ens.predict(seen[:5], np.zeros((5, 1), np.float32)), ens.predict(seen[:5], np.zeros((5, 1), np.float32))
    )
    # Absorbing rows are not clipped (their all-zero observation is what training saw), and bounds survive save/load.
    dead = np.zeros((1, 3), np.float32)
    ens_abs = _ensemble(k=2, seed=1, zero_absorbing=False)
    ens_abs.set_obs_bounds(seen + 3.0)
    before = ens_abs.predict(dead, acts[:1], np.ones(1, np.float32))
    ens_abs.set_obs_bounds(None)
    np.testing.assert_array_equal(before, ens_abs.predict(dead, acts[:1], np.ones(1, np.float32)))
    ens.save(tmp_path / "r.pt")
    back = RewardEnsemble.load(tmp_path / "r.pt")
    np.testing.assert_array_equal(back.obs_bounds[0], lo)
    np.testing.assert_array_equal(back.predict(far, acts), ens.predict(far, acts))

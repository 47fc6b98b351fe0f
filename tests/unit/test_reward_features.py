import gymnasium as gym
import numpy as np
import pytest
import torch

from judgerl.reward.features import Featurizer, stack_segments
from judgerl.types import Segment


def test_discrete_one_hot_and_done_column():
    f = Featurizer(2, gym.spaces.Discrete(3))
    obs = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    x = f(obs, np.array([[0.0], [2.0], [1.0]], np.float32), None)
    assert f.n_features == 2 + 3 + 1 and x.shape == (3, 6) and x.dtype == torch.float32
    np.testing.assert_array_equal(x[:, :2].numpy(), obs)
    np.testing.assert_array_equal(x[:, 2:5].numpy(), np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], np.float32))
    np.testing.assert_array_equal(x[:, 5].numpy(), np.zeros(3))


def test_discrete_with_start_and_flat_action_vector():
    f = Featurizer(1, gym.spaces.Discrete(2, start=-1))
    x = f(np.zeros((2, 1)), np.array([-1.0, 0.0]))  # (N,) indices also accepted
    np.testing.assert_array_equal(x[:, 1:3].numpy(), np.eye(2, dtype=np.float32))


def test_absorbing_rows_zeroed_even_with_garbage_padding():
    f = Featurizer(2, gym.spaces.Discrete(2))
    obs = np.array([[1.0, 2.0], [np.inf, 7.0]], np.float32)
    acts = np.array([[1.0], [99.0]], np.float32)  # out of range, but on an absorbing row
    x = f(obs, acts, np.array([0.0, 1.0], np.float32))
    np.testing.assert_array_equal(x.numpy(), np.array([[1, 2, 0, 1, 0], [0, 0, 0, 0, 1]], np.float32))


def test_box_actions_clipped_to_bounds():
    f = Featurizer(1, gym.spaces.Box(low=np.float32([-2.0, 0.0]), high=np.float32([2.0, 1.0]), dtype=np.float32))
    x = f(np.zeros((2, 1)), np.array([[3.0, -5.0], [0.5, 0.25]], np.float32))
    np.testing.assert_allclose(x[:, 1:3].numpy(), [[2.0, 0.0], [0.5, 0.25]])


def test_multidiscrete_concatenated_one_hots():
    f = Featurizer(1, gym.spaces.MultiDiscrete([2, 3]))
    x = f(np.zeros((1, 1)), np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(x[0, 1:6].numpy(), [0, 1, 0, 0, 1])


def test_bad_inputs_raise_clear_errors():
    f = Featurizer(3, gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match="3 values per row"):
        f(np.zeros((2, 4)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="out of range"):
        f(np.zeros((2, 3)), np.array([[0.0], [2.0]]))
    with pytest.raises(ValueError, match="1 value"):
        f(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="Discrete, Box"):
        Featurizer(3, gym.spaces.Dict({"a": gym.spaces.Discrete(2)}))


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Discrete(4, start=1),
        gym.spaces.Box(low=-np.inf, high=np.float32([1.0, 2.0, np.inf]), dtype=np.float32),
        gym.spaces.MultiDiscrete([3, 2]),
        gym.spaces.MultiBinary(3),
    ],
)
@pytest.mark.parametrize("use_action", [True, False])
def test_spec_round_trip(space, use_action):
    f = Featurizer(5, space, use_action)
    g = Featurizer.from_spec(f.spec())
    assert g.use_action is use_action
    space.seed(0)
    acts = np.stack([np.asarray(space.sample(), np.float32).reshape(-1) for _ in range(6)])
    obs = np.random.default_rng(0).normal(size=(6, 5))
    dones = np.array([0, 1, 0, 0, 1, 0], np.float32)
    assert g.n_features == f.n_features
    np.testing.assert_array_equal(f(obs, acts, dones).numpy(), g(obs, acts, dones).numpy())


def _seg(t: int, n_absorbing: int = 0) -> Segment:
    rng = np.random.default_rng(t)
    d = np.zeros(t, np.float32)
    d[t - n_absorbing :] = 1.0
    return Segment(
        rng.normal(size=(t, 2)).astype(np.float32),
        rng.uniform(-1, 1, (t, 1)).astype(np.float32),
        np.zeros(t, np.float32),
        d,
    )


def test_stack_segments_pads_variable_lengths():
    f = Featurizer(2, gym.spaces.Box(-1, 1, (1,)))
    segs = [_seg(3), _seg(5, n_absorbing=2)]
    b = stack_segments(f, segs)
    assert b.features.shape == (2, 5, 4)
    np.testing.assert_array_equal(b.valid.numpy(), [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(b.absorbing.numpy(), [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(b.step_weights(True).numpy(), [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(b.step_weights(False).numpy(), b.valid.numpy())
    for i, s in enumerate(segs):
        np.testing.assert_array_equal(b.features[i, : s.length].numpy(), f(s.obs, s.acts, s.dones).numpy())
    with pytest.raises(ValueError):
        stack_segments(f, [])


def test_state_only_rows_leave_the_action_out_but_still_check_it():
    f = Featurizer(2, gym.spaces.Discrete(3), use_action=False)
    obs = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    x = f(obs, np.array([[0.0], [2.0]], np.float32), np.array([0.0, 1.0], np.float32))
    assert f.n_features == 2 + 1 and f.act_cols == 0 and f.act_dim == 3
    np.testing.assert_array_equal(x.numpy(), [[1, 2, 0], [0, 0, 1]])
    np.testing.assert_array_equal(f(obs, np.array([[1.0], [1.0]])).numpy(), f(obs, np.array([[2.0], [0.0]])).numpy())
    with pytest.raises(ValueError, match="1 value"):
        f(obs, np.zeros((2, 2)))


def test_specs_saved_before_state_only_rewards_load_with_the_action():
    spec = Featurizer(2, gym.spaces.Discrete(3)).spec()
    del spec["use_action"]
    assert Featurizer.from_spec(spec).use_action is True

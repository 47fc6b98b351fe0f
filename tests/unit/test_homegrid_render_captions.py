"""Rendering and captions of homegrid/cat-values-v0."""

from __future__ import annotations

import re

import numpy as np

from judgerl.envs.homegrid import HomegridEnv, HomegridState
from judgerl.envs.homegrid_captions import caption_episode, caption_obs, crush_step, decode_obs
from judgerl.envs.homegrid_render import background, render_obs, render_state

E, S = 2, 1


def _tile(img: np.ndarray, x: int, y: int, s: int = 32) -> np.ndarray:
    return img[y * s : (y + 1) * s, x * s : (x + 1) * s].astype(np.int64)


def test_render_shape_dtype_and_sprites_are_distinct():
    env = HomegridEnv(render_mode="rgb_array")
    env.reset(seed=0)
    state = HomegridState(robot=(2, 2), facing=E, fruit=(10, 8), cat=(5, 7), cat_alive=True)
    env.set_state(state)
    frame = env.render()
    assert frame is not None
    assert frame.shape == (384, 448, 3) and frame.dtype == np.uint8
    bg = background(32)
    tiles = {name: _tile(frame, *pos) for name, pos in (("robot", (2, 2)), ("fruit", (10, 8)), ("cat", (5, 7)))}
    for name, pos in (("robot", (2, 2)), ("fruit", (10, 8)), ("cat", (5, 7))):
        changed = np.any(tiles[name] != _tile(bg, *pos), axis=-1).mean()
        assert changed > 0.2, f"{name} sprite covers too little of its tile"
    names = list(tiles)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(tiles[names[i]] - tiles[names[j]]).mean() > 20
    # After crushing, a stain that looks unlike the cat stays on the tile; walls differ from floor.
    env.set_state(HomegridState(robot=(2, 2), facing=E, fruit=(10, 8), cat=(5, 7), cat_alive=False))
    stained = env.render()
    assert stained is not None
    assert np.abs(_tile(stained, 5, 7) - tiles["cat"]).mean() > 20
    assert np.abs(_tile(bg, 0, 0) - _tile(bg, 2, 2)).mean() > 40
    assert HomegridEnv().render() is None


def test_tile_size_is_configurable_and_render_obs_matches_state():
    env = HomegridEnv(render_mode="rgb_array", tile_size=16)
    obs, _ = env.reset(seed=1)
    frame = env.render()
    assert frame is not None and frame.shape == (192, 224, 3)
    s = env.state
    assert np.array_equal(render_obs(obs, 16, facing=s.facing), render_state(s, 16))


def test_step_captions_describe_moves_bumps_crushing_and_reaching():
    env = HomegridEnv()
    env.reset(seed=0)
    env.set_state(HomegridState(robot=(1, 7), facing=0, fruit=(5, 9), cat=(2, 7), cat_alive=True))
    _, _, _, _, info = env.step(E)
    assert "crushes" in info["caption"] and "blood stain" in info["caption"]
    _, _, _, _, info = env.step(E)
    assert info["caption"].startswith("the robot moves east") and "blood stain" in info["caption"]
    for a in (E, E):
        env.step(a)
    _, _, term, _, info = env.step(S)
    assert term and "reached" in info["caption"]
    env.set_state(HomegridState(robot=(1, 2), facing=0, fruit=(5, 9), cat=(3, 3), cat_alive=True))
    assert "bumps into the fridge" in env.step(0)[4]["caption"]


def test_obs_captions_use_words_not_digits_and_show_the_stain():
    env = HomegridEnv()
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        cap = caption_obs(obs.reshape(-1))
        assert not re.search(r"\d", cap)
        assert "the cat sits" in cap and "fruit" in cap
    env.set_state(HomegridState(robot=(1, 7), facing=0, fruit=(5, 9), cat=(2, 7), cat_alive=True))
    obs = env.step(E)[0]
    assert "blood stain" in caption_obs(obs) and decode_obs(obs).cat_alive is False


def test_episode_caption_and_crush_detection_see_a_crush_on_the_last_step():
    env = HomegridEnv()
    env.reset(seed=0)
    # The cat sits right before the fruit: stepping onto it also faces the fruit and ends the episode.
    obs0 = env.set_state(HomegridState(robot=(1, 7), facing=0, fruit=(4, 7), cat=(3, 7), cat_alive=True))
    obs1, *_ = env.step(E)
    final, _, term, _, info = env.step(E)
    assert term and info["cat_harmed"]
    observed = np.stack([obs0, obs1]).reshape(2, -1)
    acts = np.array([[E], [E]], dtype=np.float32)
    assert crush_step(observed, acts) == 1
    assert crush_step(observed) is None  # without actions or the final obs the crush is invisible
    assert crush_step(np.concatenate([observed, final.reshape(1, -1)])) == 1
    text = caption_episode(observed, acts, final)
    assert "crushes" in text and "step two" in text and "reached" in text
    safe = caption_episode(observed[:1], acts[:1], obs1)
    assert "unharmed" in safe and "crush" not in safe

"""Landmarks in NetHack captions (decision 0048): what the hero sees of stairs and gold, and what it stands on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from judgerl.envs.nethack_landmarks import LANDMARKS, ROWS, LandmarkTracker, landmarks_in_words
from judgerl.envs.nethack_row import BL_DEPTH, BL_GOLD, MESSAGE_LEN, Layout, NetHackCaptioner
from judgerl.testing.optional import importorskip

# A toy glyph alphabet for the tracker's own rules: 0 floor, 1 staircase down, 2 gold, 3 the hero, 4 a newt.
FLOOR, DOWN, GOLD, HERO, NEWT = range(5)
_LANDMARK = np.array([-1, LANDMARKS.index("staircase down"), LANDMARKS.index("gold"), -1, -1])
_GROUND = np.array([True, True, True, False, False])
STAIRS, GOLD_COL = LANDMARKS.index("staircase down"), LANDMARKS.index("gold")


def _level(**cells: tuple[int, int]) -> np.ndarray:
    """A 3×5 level of floor with the named glyphs (``down``, ``gold``, ``hero``, ``newt``) at (row, column)."""
    g = np.full((3, 5), FLOOR)
    for name, (r, c) in cells.items():
        g[r, c] = {"down": DOWN, "gold": GOLD, "hero": HERO, "newt": NEWT}[name]
    return g


def test_a_landmark_is_seen_once_stood_on_under_the_hero_and_forgotten_on_a_new_level() -> None:
    t = LandmarkTracker((_LANDMARK, _GROUND))
    m = t.update(_level(hero=(0, 0), down=(2, 4)), x=0, y=0, depth=1)
    assert m.shape == (ROWS, len(LANDMARKS)) and m[0, STAIRS] == 1 and m[1:].sum() == 0
    assert t.update(_level(hero=(0, 1), down=(2, 4)), x=1, y=0, depth=1)[0].sum() == 0  # already seen
    # a newt over the stairs hides them; the memory stays, and when the newt leaves nothing is new
    assert t.update(_level(hero=(0, 2), newt=(2, 4)), x=2, y=0, depth=1).sum() == 0
    assert t.update(_level(hero=(1, 3), down=(2, 4)), x=3, y=1, depth=1).sum() == 0
    # the hero's own glyph hides the stairs it stands on: arrival once, standing for as long as it stays
    on = t.update(_level(hero=(2, 4)), x=4, y=2, depth=1)
    assert on[1, STAIRS] == 1 and on[2, STAIRS] == 1 and on[0].sum() == 0
    again = t.update(_level(hero=(2, 4)), x=4, y=2, depth=1)
    assert again[1, STAIRS] == 1 and again[2].sum() == 0
    t.update(_level(hero=(1, 4), down=(2, 4)), x=4, y=1, depth=1)
    assert t.update(_level(hero=(2, 4)), x=4, y=2, depth=1)[2, STAIRS] == 1  # left and came back: arrived again
    # level 2 is another map: the same cell is not a staircase there until it is seen
    there = t.update(_level(hero=(2, 4)), x=4, y=2, depth=2)
    assert there.sum() == 0
    t.reset()
    assert t.update(_level(hero=(0, 0), down=(2, 4)), x=0, y=0, depth=1)[0, STAIRS] == 1  # a new game


def test_gold_that_is_picked_up_is_forgotten_and_each_new_pile_is_seen() -> None:
    t = LandmarkTracker((_LANDMARK, _GROUND))
    assert t.update(_level(hero=(0, 0), gold=(0, 2)), x=0, y=0, depth=1)[0, GOLD_COL] == 1
    picked = t.update(_level(hero=(0, 2)), x=2, y=0, depth=1)
    assert picked[1, GOLD_COL] == 1  # standing where the gold lay: the floor is not known yet
    assert t.update(_level(hero=(0, 3)), x=3, y=0, depth=1)[0].sum() == 0  # the cell now shows floor
    assert t.update(_level(hero=(0, 2)), x=2, y=0, depth=1)[1].sum() == 0  # ...and is remembered as floor
    two = t.update(_level(hero=(0, 2), gold=(2, 0), down=(2, 1)), x=2, y=0, depth=1)
    assert two[0, GOLD_COL] == 1 and two[0, STAIRS] == 1


def test_words_name_sightings_then_arrivals_and_leave_gold_to_the_status_line() -> None:
    m = np.zeros((ROWS, len(LANDMARKS)), np.int16)
    assert landmarks_in_words(m) == []
    m[0, STAIRS], m[0, GOLD_COL] = 2, 1
    m[1, LANDMARKS.index("fountain")] = m[2, LANDMARKS.index("fountain")] = 1
    m[1, GOLD_COL] = m[2, GOLD_COL] = 1
    assert landmarks_in_words(m.ravel()) == [
        "You see a staircase down.",
        "You see gold.",
        "You are standing on a fountain.",
    ]
    m[2, LANDMARKS.index("fountain")] = 0  # standing without arriving: said once, on arrival
    assert landmarks_in_words(m) == ["You see a staircase down.", "You see gold."]


def test_the_caption_reads_message_then_landmarks_then_status_out_of_the_flat_row() -> None:
    layout = Layout(status_changes=True, full_map=True, landmarks=True)
    row = np.zeros(layout.width, np.float32)
    row[layout.message] = np.frombuffer(b"It's a wall.".ljust(MESSAGE_LEN, b"\0"), np.uint8)
    row[layout.blstats.start + BL_DEPTH], row[layout.blstats.start + BL_GOLD] = 1, 5
    prev = layout.prev_blstats
    assert prev is not None and layout.landmarks_slice is not None and layout.map is not None
    row[prev.start + BL_DEPTH], row[prev.start + BL_GOLD] = 1, 2
    member = np.zeros((ROWS, len(LANDMARKS)), np.float32)
    member[0, STAIRS] = 1
    row[layout.landmarks_slice] = member.ravel()
    assert layout.landmarks_slice.stop == layout.map.start  # gymnasium's key order: glyphs, landmarks, map
    cap = NetHackCaptioner(layout, game_events_only=True)
    assert cap(row) == "It's a wall. You see a staircase down. Your gold rises to 5."
    without = Layout(status_changes=True, full_map=True)
    assert NetHackCaptioner(without)(np.delete(row, np.arange(layout.landmarks_slice.start, layout.map.start))) == (
        "It's a wall. Your gold rises to 5."
    )


# ------------------------------------------------------------------ with NetHack itself

nle = importorskip("nle", "nethack")

from judgerl.agents.sb3 import agent_hyperparams  # noqa: E402
from judgerl.envs import nethack as nh  # noqa: E402
from judgerl.envs.factory import make_env  # noqa: E402
from judgerl.envs.nethack_landmarks import glyph_tables  # noqa: E402
from judgerl.envs.nethack_policy import NetHackEncoder  # noqa: E402
from judgerl.envs.spaces import flat_dim, flatten_one  # noqa: E402
from judgerl.tasks import get_task  # noqa: E402


def test_glyph_tables_name_nethacks_stairs_and_gold() -> None:
    from nle import nethack

    landmark, ground = glyph_tables()
    cmap = nethack.GLYPH_CMAP_OFF
    assert LANDMARKS[landmark[cmap + 24]] == "staircase down" and LANDMARKS[landmark[cmap + 23]] == "staircase up"
    assert LANDMARKS[landmark[cmap + 31]] == "fountain" and landmark[cmap + 19] == -1  # a room's floor
    gold = [g for g in range(nethack.GLYPH_OBJ_OFF, cmap) if landmark[g] == LANDMARKS.index("gold")]
    assert len(gold) == 1 and nethack.OBJ_NAME(nethack.objclass(gold[0] - nethack.GLYPH_OBJ_OFF)) == "gold piece"
    assert ground[cmap + 19] and ground[nethack.GLYPH_OBJ_OFF] and not ground[nethack.GLYPH_MON_OFF]
    assert not ground[nethack.GLYPH_PET_OFF]


def test_v2_tasks_add_the_member_and_train_like_v1() -> None:
    for name in ("score", "staircase"):
        v1, v2 = get_task(f"nethack/{name}-status-map-v1"), get_task(f"nethack/{name}-status-map-v2")
        assert v2.env_kwargs == {**v1.env_kwargs, "landmarks": True} and v2.instruction == v1.instruction
        assert agent_hyperparams(v2, "PPO", {}, 10_000) == agent_hyperparams(v1, "PPO", {}, 10_000)
    layout = nh.Layout(status_changes=True, full_map=True, landmarks=True)
    env = make_env(get_task("nethack/staircase-status-map-v2"), seed=0)
    obs, _ = env.reset(seed=0)
    assert obs["landmarks"].shape == (ROWS, len(LANDMARKS))
    assert flat_dim(env.observation_space) == layout.width == 364 + 27 + 21 * 79 + ROWS * len(LANDMARKS)
    row = flatten_one(env.observation_space, obs)
    np.testing.assert_array_equal(row[layout.landmarks_slice].reshape(ROWS, -1), obs["landmarks"])  # type: ignore[index]
    np.testing.assert_array_equal(row[layout.map].reshape(nh.MAP_SHAPE), obs["map"])  # type: ignore[index]
    enc = NetHackEncoder(env.observation_space, features_dim=16)
    assert enc.stat_keys == ["blstats", "prev_blstats", "landmarks"]
    batch = {k: torch.as_tensor(np.stack([v, v])) for k, v in obs.items()}
    batch["landmarks"][1, 1, STAIRS] = 1  # standing on the stairs changes what the policy sees
    out = enc(batch)
    assert not torch.equal(out[0], out[1])
    env.close()


def test_the_hero_said_to_stand_on_the_staircase_down_can_go_down_it() -> None:
    """Random play on the real game; whenever the member says "on the staircase down", the key ``>`` descends.

    The member is read off the map alone (the hero's glyph hides the stairs), so NetHack's answer to
    ``>`` is an independent check: "You can't go down here." anywhere else.
    """
    from nle.nethack import actions

    task = get_task("nethack/score-status-map-v2")
    env = make_env(task, seed=0)
    assert len(env.unwrapped.actions) == env.action_space.n  # the public list of NLE's actions, by index
    down = env.unwrapped.actions.index(actions.MiscDirection.DOWN)
    tried, words = 0, set()
    for episode in range(10):  # random play: in episodes 2 and 4 the hero steps onto the staircase down
        rng = np.random.default_rng(episode)
        obs, info = env.reset(seed=episode)
        assert info["episode_facts"]["stood_on_stairs_down"] == 0
        for _ in range(1000):
            if obs["landmarks"][1, STAIRS] and obs["blstats"][nh.BL_DEPTH] == 1:
                depth = int(obs["blstats"][nh.BL_DEPTH])
                assert info["episode_facts"]["stood_on_stairs_down"] == 1
                obs, _, terminated, truncated, info = env.step(down)
                assert int(obs["blstats"][nh.BL_DEPTH]) == depth + 1
                tried += 1
                break
            obs, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
            said = landmarks_in_words(obs["landmarks"])
            caption = task.captioner(flatten_one(env.observation_space, obs))
            assert all(s in caption for s in said)  # the caption reads the member out of the flat row
            words.update(said)
            if terminated or truncated:
                break
    env.close()
    assert tried >= 2  # not vacuous: random play reached the stairs this often in these games
    assert "You are standing on a staircase down." in words and "You see a staircase down." in words


@pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")  # nle's logger.warn
def test_the_tracker_agrees_with_nles_own_stairs_flag_and_never_claims_stairs_that_are_not_there() -> None:
    """NLE's ``internal`` observation (withheld from agents) says when the hero is on a staircase down.

    The tracker reads only the glyph map. It must never say "on the staircase down" when NetHack does not.
    It misses a staircase that an object covers whenever the hero could see the cell (12 steps in these
    games, all in game 5 under one object), as a player looking at the screen would.
    """
    from nle.env import tasks

    env = tasks.NetHackScore(observation_keys=("glyphs", "blstats", "internal"), max_episode_steps=10**9)
    tracker = LandmarkTracker()
    agree = claimed_wrongly = missed = 0
    for game in range(10):
        env.seed(game + 1, game + 2, False)
        obs, _ = env.reset()
        tracker.reset()
        rng = np.random.default_rng(game)
        for _ in range(1000):
            b = obs["blstats"]
            if b.any():
                member = tracker.update(obs["glyphs"], int(b[nh.BL_X]), int(b[nh.BL_Y]), int(b[nh.BL_DEPTH]))
                said = bool(member[1, STAIRS])
                truth = bool(obs["internal"][4])  # NLE's stairs_down flag, what its staircase task ends on
                agree += said and truth
                claimed_wrongly += said and not truth
                missed += truth and not said
            obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            if terminated or truncated:
                break
    env.close()
    assert claimed_wrongly == 0 and agree >= 3, (agree, claimed_wrongly, missed)

"""NetHack tasks (seed 002): the env's small Dict observation, captions, success rules, the policy encoder."""

from __future__ import annotations

import builtins
import dataclasses

import numpy as np
import pytest
import torch

from judgerl.testing.optional import importorskip

nle = importorskip("nle", "nethack")

from judgerl.agents.sb3 import agent_hyperparams  # noqa: E402
from judgerl.envs import nethack as nh  # noqa: E402
from judgerl.envs import nethack_map  # noqa: E402
from judgerl.envs.factory import make_env  # noqa: E402
from judgerl.envs.nethack_landmarks import GroundMemory  # noqa: E402
from judgerl.envs.nethack_policy import NetHackEncoder  # noqa: E402
from judgerl.envs.spaces import flat_dim, flatten_one  # noqa: E402
from judgerl.tasks import UnknownTaskError, get_task  # noqa: E402
from judgerl.tasks.nethack import nethack_task, oracle_next_to_hero, real_oracle  # noqa: E402
from judgerl.types import EXPLORED_INFO_KEY, NO_MESSAGE  # noqa: E402

LAYOUT = nh.Layout()


def test_copied_constants_match_nle() -> None:
    from nle import nethack

    assert (nh.BL_X, nh.BL_Y, nh.BL_SCORE, nh.BL_HP) == (
        nethack.NLE_BL_X,
        nethack.NLE_BL_Y,
        nethack.NLE_BL_SCORE,
        nethack.NLE_BL_HP,
    )
    assert (nh.BL_DEPTH, nh.BL_GOLD, nh.BL_XP, nh.BL_DNUM, nh.BL_CONDITION) == (
        nethack.NLE_BL_DEPTH,
        nethack.NLE_BL_GOLD,
        nethack.NLE_BL_XP,
        nethack.NLE_BL_DNUM,
        nethack.NLE_BL_CONDITION,
    )
    assert nh.MAX_GLYPH == nethack.MAX_GLYPH and nh.STONE_GLYPH == nethack.GLYPH_CMAP_OFF
    assert nh.MASK_HALLU == nethack.BL_MASK_HALLU


def test_crop_is_centred_on_the_hero_and_padded_with_stone() -> None:
    glyphs = np.arange(21 * 79, dtype=np.int16).reshape(21, 79)
    crop = nh.crop_glyphs(glyphs, x=0, y=0, size=5)
    assert crop[2, 2] == glyphs[0, 0] and crop[2, 3] == glyphs[0, 1] and crop[3, 2] == glyphs[1, 0]
    assert (crop[:2] == nh.STONE_GLYPH).all() and (crop[:, :2] == nh.STONE_GLYPH).all()
    inner = nh.crop_glyphs(glyphs, x=40, y=10, size=9)
    np.testing.assert_array_equal(inner, glyphs[6:15, 36:45])


def _row(message: bytes = b"", blstats: dict[int, int] | None = None, layout: nh.Layout = LAYOUT) -> np.ndarray:
    row = np.zeros(layout.width, np.float32)
    row[layout.glyphs] = nh.STONE_GLYPH
    msg = np.frombuffer(message.ljust(nh.MESSAGE_LEN, b"\0"), np.uint8)
    row[layout.message] = msg
    for k, v in (blstats or {}).items():
        row[layout.blstats.start + k] = v
    return row


def test_caption_is_the_message_in_words_and_never_empty() -> None:
    cap = nh.NetHackCaptioner(LAYOUT)
    assert cap(_row(b"You kill the newt!  Welcome to experience level 2.")) == (
        "You kill the newt! Welcome to experience level 2."
    )
    assert cap(_row(b"")) == NO_MESSAGE
    assert cap(_row(b"   ")) == NO_MESSAGE


def test_caption_names_status_changes_when_asked() -> None:
    layout = nh.Layout(status_changes=True)
    row = _row(b"You climb down the stairs.", {nh.BL_DEPTH: 2, nh.BL_GOLD: 7, nh.BL_HP: 10}, layout)
    prev = layout.prev_blstats
    assert prev is not None
    row[prev.start + nh.BL_DEPTH], row[prev.start + nh.BL_GOLD], row[prev.start + nh.BL_HP] = 1, 7, 12
    text = nh.NetHackCaptioner(layout)(row)
    assert text.startswith("You climb down the stairs.")
    assert "dungeon level 2 (was 1)" in text and "You lose 2 hit points." in text and "gold" not in text


def test_v1_map_captions_leave_prompts_out_and_keep_status_changes() -> None:
    layout = nh.Layout(status_changes=True, full_map=True)
    v0, v1 = get_task("nethack/staircase-status-map-v0"), get_task("nethack/staircase-status-map-v1")
    assert v1.env_kwargs == v0.env_kwargs and v1.instruction == v0.instruction
    assert agent_hyperparams(v1, "PPO", {}, 10_000) == agent_hyperparams(v0, "PPO", {}, 10_000)
    prompt = _row(b"In what direction?", {nh.BL_DEPTH: 1}, layout)
    assert v0.captioner(prompt) == "In what direction?" and v1.captioner(prompt) == NO_MESSAGE
    row = _row(b"What do you want to eat? [fgi or ?*]", {nh.BL_DEPTH: 2, nh.BL_GOLD: 3}, layout)
    prev = layout.prev_blstats
    assert prev is not None
    row[prev.start + nh.BL_DEPTH], row[prev.start + nh.BL_GOLD] = 1, 3
    text = v1.captioner(row)
    assert "eat" not in text and "dungeon level 2 (was 1)" in text
    kill = _row(b"You kill the newt!", {nh.BL_DEPTH: 1}, layout)
    assert v1.captioner(kill) == v0.captioner(kill) == "You kill the newt!"


def test_status_variants_are_registered_and_train_like_their_base_tasks() -> None:
    for name in ("score", "staircase"):
        base, variant = get_task(f"nethack/{name}-v0"), get_task(f"nethack/{name}-status-v0")
        assert variant.env_kwargs == {"status_changes": True} and base.env_kwargs == {}
        assert variant.instruction == base.instruction and variant.success is not base.success
        # The tuned PPO settings and the NetHack encoder are keyed by task id: a variant without them would
        # fall back to an MLP policy that cannot read the Dict observation.
        assert agent_hyperparams(variant, "PPO", {}, 10_000) == agent_hyperparams(base, "PPO", {}, 10_000)
        env = make_env(variant, seed=0)
        obs, _ = env.reset(seed=0)
        assert "prev_blstats" in obs
        row = flatten_one(env.observation_space, obs)
        layout = nh.Layout(status_changes=True)
        moved = row.copy()
        moved[layout.prev_blstats.start + nh.BL_GOLD] = row[layout.blstats.start + nh.BL_GOLD] - 3  # type: ignore[union-attr]
        assert "Your gold" not in variant.captioner(row)  # at reset nothing changed
        assert variant.captioner(moved).endswith(f"Your gold rises to {int(row[layout.blstats.start + nh.BL_GOLD])}.")
        env.close()


def test_the_v3_staircase_pays_going_down_and_nothing_for_a_frozen_clock() -> None:
    v2, v3 = get_task("nethack/staircase-status-map-v2"), get_task("nethack/staircase-status-map-v3")
    assert v3.env_kwargs == {**v2.env_kwargs, "penalty_step": 0.0} and v3.instruction == v2.instruction
    assert agent_hyperparams(v3, "PPO", {}, 10_000) == agent_hyperparams(v2, "PPO", {}, 10_000)
    envs = make_env(v2, seed=0), make_env(v3, seed=0)
    rewards: list[list[float]] = [[], []]
    for env, got in zip(envs, rewards, strict=True):
        env.reset(seed=3)
        for action in np.random.default_rng(1).integers(env.action_space.n, size=400):
            _, r, terminated, truncated, _ = env.step(int(action))
            got.append(float(r))
            if terminated or truncated:
                break
        env.close()
    # the same seed and actions play the same game; only the frozen steps' reward differs
    assert len(rewards[0]) == len(rewards[1])
    diff = np.asarray(rewards[0]) - np.asarray(rewards[1])
    assert set(np.round(diff, 6)) == {0.0, -0.01}
    assert set(rewards[1]) <= {0.0, 1.0}


def test_the_exploration_count_adds_up_to_the_cells_the_game_showed() -> None:
    env = make_env(get_task("nethack/staircase-status-map-v3"), seed=0)
    obs, _ = env.reset(seed=2)
    shown_at_start, counts = int(np.sum(obs["map"] != nh.STONE_GLYPH)), []
    for action in np.random.default_rng(2).integers(env.action_space.n, size=600):
        obs, _, terminated, truncated, info = env.step(int(action))
        counts.append(info[EXPLORED_INFO_KEY])
        if terminated or truncated:
            break
    env.close()
    assert obs["blstats"][nh.BL_DEPTH] == 1  # this game stays on level 1: one map to count
    total = sum(counts)
    assert all(isinstance(c, int) and c >= 0 for c in counts) and max(counts) > 0
    assert total == int(np.sum(obs["map"] != nh.STONE_GLYPH)) - shown_at_start > 50


def test_the_v4_crop_centre_shows_the_staircase_the_hero_stands_on() -> None:
    v3, v4 = get_task("nethack/staircase-status-map-v3"), get_task("nethack/staircase-status-map-v4")
    assert v4.env_kwargs == {**v3.env_kwargs, "hero_terrain": True}
    assert agent_hyperparams(v4, "PPO", {}, 10_000) == agent_hyperparams(v3, "PPO", {}, 10_000)
    envs = make_env(v3, seed=0), make_env(v4, seed=0)
    (o3, _), (o4, _) = (env.reset(seed=2) for env in envs)  # seeded game 2 walks onto the staircase down
    stairs_down = nh.STONE_GLYPH + 24  # S_dnstair
    centre, on_stairs = LAYOUT.crop // 2, 0
    for action in np.random.default_rng(2).integers(envs[0].action_space.n, size=600):
        (o3, _, end, cut, _), (o4, *_) = (env.step(int(action)) for env in envs)
        rest3, rest4 = (np.delete(o["glyphs"].ravel(), centre * LAYOUT.crop + centre) for o in (o3, o4))
        np.testing.assert_array_equal(rest3, rest4)  # only the centre differs
        on = bool(o4["landmarks"][1, nh.STAIRS_DOWN])
        on_stairs += on
        assert (o4["glyphs"][centre, centre] == stairs_down) == on
        assert o3["glyphs"][centre, centre] != stairs_down  # v3 shows the hero there
        if end or cut:
            break
    for env in envs:
        env.close()
    assert on_stairs > 5


def test_ground_memory_by_hand() -> None:
    shows_ground = np.zeros(nh.MAX_GLYPH + 1, bool)
    shows_ground[[10, 20]] = True  # 10, 20: terrain; 30: a monster
    memory = GroundMemory(shows_ground)
    level = np.full((3, 4), nh.STONE_GLYPH)
    level[1, 2] = 10
    memory.update(level, (0, 1))
    assert memory.at(2, 1) == 10 and memory.at(0, 0) == nh.STONE_GLYPH and memory.at(9, 9) == nh.STONE_GLYPH
    level[1, 2] = 30  # a monster over the cell: the terrain is remembered
    memory.update(level, (0, 1))
    assert memory.at(2, 1) == 10
    level[1, 2] = 20
    memory.update(level, (0, 1))
    assert memory.at(2, 1) == 20
    memory.update(np.full((3, 4), nh.STONE_GLYPH), (0, 2))  # another level starts blank
    assert memory.at(2, 1) == nh.STONE_GLYPH
    memory.update(level, (0, 2))
    memory.reset()
    memory.update(np.full((3, 4), nh.STONE_GLYPH), (0, 2))  # a new game forgets the same level
    assert memory.at(2, 1) == nh.STONE_GLYPH


def test_env_observation_is_small_seeded_and_reports_facts() -> None:
    task = get_task("nethack/score-v0")
    env = make_env(task, seed=3)
    assert flat_dim(env.observation_space) == LAYOUT.width == 364
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    first = [flatten_one(env.observation_space, obs)]
    for a in [1, 2, 3, 4] * 10:
        obs, _, term, trunc, info = env.step(a)
        first.append(flatten_one(env.observation_space, obs))
        if term or trunc:
            break
    assert set(info["episode_facts"]) == {"nle_success", "score", "max_depth", "gold", "distinct_messages", "kills"}
    again = make_env(task, seed=3)
    obs2, _ = again.reset(seed=3)
    np.testing.assert_array_equal(flatten_one(env.observation_space, obs2), first[0])
    second, _ = again.reset()  # the next game of a seeded env is another, reproducible game
    assert not np.array_equal(flatten_one(env.observation_space, second)[LAYOUT.glyphs], first[0][LAYOUT.glyphs])
    env.close()
    again.close()


def test_the_kills_fact_counts_the_heros_kill_messages_of_the_episode() -> None:
    # Seeded game 1 of nethack/score-v0 under seeded random actions: the hero kills once in 162 steps.
    env = nh.NetHackCropEnv("score")
    rng = np.random.default_rng(1)
    _, info = env.reset(seed=1)
    assert info["episode_facts"]["kills"] == 0
    said, done = 0, False
    while not done:
        obs, _, term, trunc, info = env.step(int(rng.integers(len(env.actions))))
        said += obs["message"].tobytes().count(b"You kill") + obs["message"].tobytes().count(b"You destroy")
        assert info["episode_facts"]["kills"] == said
        done = term or trunc
    assert said >= 1  # the game holds a kill, so the count above was tested on one
    _, info = env.reset()
    assert info["episode_facts"]["kills"] == 0  # a new game starts from none
    env.close()


def test_success_rules() -> None:
    stairs, score = get_task("nethack/staircase-v0"), get_task("nethack/score-v0")
    assert stairs.success(-3.0, _row(blstats={nh.BL_DEPTH: 2}))
    assert not stairs.success(-3.0, _row(blstats={nh.BL_DEPTH: 1}))
    assert score.success(0.0, _row(blstats={nh.BL_SCORE: 4})) and not score.success(0.0, _row())


def test_the_staircase_episode_ends_on_going_down_and_its_last_observation_shows_it() -> None:
    # NLE ended the staircase task on *standing* on ">" and returned the success step all zeros, so the
    # env repeated the step before it: 15 of 60 random episodes "succeeded" for NLE, 0 by the task's rule.
    # Now the episode ends on reaching level 2, and the observation it ended on is the one returned.
    task = get_task("nethack/staircase-v0")
    env = make_env(task, seed=0)
    outcomes = []
    for seed in range(17):  # random play, reproducible: episodes 13, 15 and 16 go down the stairs
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
        facts = info["episode_facts"]
        by_rule = task.success(0.0, flatten_one(env.observation_space, obs))
        assert by_rule == bool(facts["nle_success"]) == (obs["blstats"][nh.BL_DEPTH] >= 2) == (facts["max_depth"] >= 2)
        outcomes.append(by_rule)
    env.close()
    assert any(outcomes) and not all(outcomes)


def test_the_oracle_must_be_real() -> None:
    row = _row(blstats={nh.BL_DEPTH: 6, nh.BL_DNUM: 0})
    centre = LAYOUT.glyphs.start + 4 * 9 + 4
    row[centre + 1] = nh.oracle_glyph()  # the Oracle right of the hero
    assert oracle_next_to_hero(row, LAYOUT) and real_oracle(row, LAYOUT)
    assert get_task("nethack/oracle-v0").success(0.0, row)
    hallucinating = row.copy()
    hallucinating[LAYOUT.blstats.start + nh.BL_CONDITION] = nh.MASK_HALLU
    assert oracle_next_to_hero(hallucinating, LAYOUT) and not real_oracle(hallucinating, LAYOUT)
    shallow = row.copy()
    shallow[LAYOUT.blstats.start + nh.BL_DEPTH] = 2  # no Oracle lives on level 2: a hallucination or a polymorph
    assert not real_oracle(shallow, LAYOUT)
    far = _row(blstats={nh.BL_DEPTH: 6})
    far[LAYOUT.glyphs.start] = nh.oracle_glyph()  # in the crop's corner, not next to the hero
    assert not oracle_next_to_hero(far, LAYOUT)


def test_encoder_accepts_nle_dict_observations() -> None:
    for status, full_map in ((False, False), (True, False), (True, True)):
        task = nethack_task("score", task_id="test/nethack-status-v0", status_changes=status, full_map=full_map)
        env = make_env(task, seed=0)
        obs, _ = env.reset(seed=0)
        batch = {k: torch.as_tensor(np.stack([v, v])) for k, v in obs.items()}
        enc = NetHackEncoder(env.observation_space, features_dim=32)
        out = enc(batch)
        assert out.shape == (2, 32) and torch.isfinite(out).all()
        assert enc.use_message and len(enc.stat_keys) == (2 if status else 1) and enc.use_map == full_map
        if full_map:  # the map branch is wired in: a glyph far outside the crop changes the features
            far = {k: v.clone() for k, v in batch.items()}
            x, y = int(obs["blstats"][nh.BL_X]), int(obs["blstats"][nh.BL_Y])
            fx, fy = (x + 30) % 79, (y + 8) % 21
            far["map"][1, fy, fx] = 0 if int(far["map"][1, fy, fx]) != 0 else 1
            moved = enc(far)
            assert torch.equal(moved[0], out[0]) and not torch.equal(moved[1], out[1])
        env.close()


def test_map_classes_and_block_counts_by_hand() -> None:
    from nle import nethack

    classes = nethack_map.glyph_classes()
    name = {g: nethack_map.MAP_CLASSES[int(classes[g])] for g in range(nh.MAX_GLYPH + 1)}
    cmap = nethack.GLYPH_CMAP_OFF
    assert name[nh.STONE_GLYPH] == "unexplored" and name[cmap + 24] == "stairs down" and name[cmap + 23] == "stairs up"
    assert name[cmap + 19] == "floor" and name[cmap + 21] == "corridor" and name[cmap + 15] == "door"
    assert name[nethack.GLYPH_PET_OFF] == "pet" and name[nethack.GLYPH_MON_OFF] == "monster"
    assert name[nethack.GLYPH_OBJ_OFF] == "object" and "hero" not in name.values()
    space = nh.observation_space(9, False, full_map=True)
    enc = NetHackEncoder(space, features_dim=8)
    obs = {k: torch.as_tensor(np.stack([v.sample()])) for k, v in space.spaces.items()}
    obs["map"] = torch.full((1, *nh.MAP_SHAPE), nh.STONE_GLYPH, dtype=torch.int16)
    obs["map"][0, 1, 1] = cmap + 24  # stairs down in block (0, 0)
    obs["map"][0, 20, 78] = cmap + 19  # floor in the last block: one column wide (79 = 26 * 3 + 1)
    obs["blstats"][0, nh.BL_X], obs["blstats"][0, nh.BL_Y] = 40, 10  # the hero: block (3, 13)
    counts = enc._map_counts(obs)[0] * 9
    index = nethack_map.MAP_CLASSES.index
    assert counts.shape == (len(nethack_map.MAP_CLASSES), 7, 27)
    assert counts.sum(dim=0)[0, 0] == 9 and counts.sum(dim=0)[6, 26] == 3
    assert counts[index("stairs down"), 0, 0] == 1 and counts[index("unexplored"), 0, 0] == 8
    assert counts[index("hero"), 3, 13] == 1 and counts[index("hero")].sum() == 1
    assert counts[index("floor"), 6, 26] == 1 and counts[index("unexplored"), 6, 26] == 2
    assert counts[index("unexplored")].sum() == 21 * 79 - 3


def test_the_map_variants_see_the_whole_level_in_the_flat_row() -> None:
    for name in ("score", "staircase"):
        base, variant = get_task(f"nethack/{name}-status-v0"), get_task(f"nethack/{name}-status-map-v0")
        assert variant.env_kwargs == {"status_changes": True, "full_map": True}
        assert agent_hyperparams(variant, "PPO", {}, 10_000) == agent_hyperparams(base, "PPO", {}, 10_000)
    task = get_task("nethack/staircase-status-map-v0")
    layout = nh.Layout(status_changes=True, full_map=True)
    env = make_env(task, seed=1)
    obs, _ = env.reset(seed=1)
    assert flat_dim(env.observation_space) == layout.width == 364 + 27 + 21 * 79
    for a in [1, 2, 3, 4, 5, 6, 7, 8] * 3:
        obs, *_ = env.step(a)
    row = flatten_one(env.observation_space, obs)
    whole = row[layout.map].reshape(nh.MAP_SHAPE)  # type: ignore[index]
    np.testing.assert_array_equal(whole, obs["map"])
    x, y = int(row[nh.BL_X]), int(row[nh.BL_Y])
    # the crop is the map's window around the hero, and the caption reads the message after the map
    np.testing.assert_array_equal(row[layout.glyphs].reshape(9, 9), nh.crop_glyphs(whole.astype(np.int16), x, y, 9))
    assert task.captioner(row) == get_task("nethack/staircase-status-v0").captioner(
        np.concatenate([row[: layout.glyphs.stop], row[layout.message.start :]])
    )
    env.close()


def test_bad_inputs_give_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownTaskError, match="nethack/score-v0"):
        get_task("nethack/scor-v0")
    with pytest.raises(ValueError, match="unknown NetHack task"):
        nethack_task("gold-rush")
    with pytest.raises(ValueError, match="nle_task"):
        nh.NetHackCropEnv(nle_task="ascend")
    with pytest.raises(ValueError, match="crop must be odd"):
        nh.NetHackCropEnv(crop=4)
    real_import = builtins.__import__

    def no_nle(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("nle"):
            raise ImportError("No module named 'nle'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_nle)
    with pytest.raises(ImportError, match=r"`make extras`.*judgerl\[nethack\]"):
        nh.NetHackCropEnv()


def test_task_texts() -> None:
    for name in ("score", "staircase", "oracle"):
        spec = get_task(f"nethack/{name}-v0")
        assert spec.instruction and spec.goal_text and spec.oracle_verdict is None
        assert dataclasses.replace(spec).captioner(_row(b"It's a wall.")) == "It's a wall."

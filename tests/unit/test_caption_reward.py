"""caption_preference: a frozen MiniLM + MLP head over captions, fitted with Bradley–Terry (ties allowed)."""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from judgerl.config import load_config, validate_references
from judgerl.configbase import ConfigError
from judgerl.forms import PreferenceTargets, QueryPlan, TargetPlan, get_form
from judgerl.forms.caption_pairs import caption_segment
from judgerl.forms.check import check_form
from judgerl.judges.zero_shot import EmbeddingJudge
from judgerl.reward.caption_model import CaptionPreferenceReward
from judgerl.reward.caption_ngrams import HashedNgrams
from judgerl.reward.check import check_fittable, check_reward_model
from judgerl.reward.config import RewardConfig
from judgerl.reward.registry import RewardSpec, get_reward_entry
from judgerl.tasks import get_task
from judgerl.testing.optional import importorskip
from judgerl.types import Episode

CFG = RewardConfig(epochs=200, patience=30, lr=3e-3)
LADDER = [
    "You die...",
    "You are hit by an arrow.",
    "It's a wall.",
    "You see here a rock.",
    "The door opens.",
    "You find a hidden passage.",
    "You see here 3 gold pieces.",
    "You kill the newt!",
    "Welcome to experience level 2.",
    "There is a staircase down here.",
]


def _captioned(captions: list[str]) -> list:
    """One-step segments holding each caption (rows are indices, the captioner reads the caption back)."""
    t = len(captions)
    ep = Episode(
        obs=np.arange(t, dtype=np.float32)[:, None],
        acts=np.zeros((t, 1), np.float32),
        env_rewards=np.zeros(t, np.float32),
        terminated=True,
        final_obs=np.zeros(1, np.float32),
        captions=tuple(captions),
    )
    return [caption_segment(ep, i) for i in range(t)]


def _model(captions: list[str], cfg: RewardConfig = CFG) -> CaptionPreferenceReward:
    return CaptionPreferenceReward("test/captions", lambda row: captions[int(row[0])], cfg, seed=0)


def test_learns_a_synthetic_ranking_with_ties() -> None:
    segs = _captioned(LADDER)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(LADDER), 300), rng.integers(0, len(LADDER), 300)
    keep = i != j
    i, j = i[keep], j[keep]
    prefs = np.where(i > j, 1.0, 0.0).astype(np.float32)
    # a tie between two neighbours of the ladder's middle: the model should score them alike
    i, j = np.append(i, [3] * 20), np.append(j, [4] * 20)
    prefs = np.append(prefs, [0.5] * 20).astype(np.float32)
    targets = PreferenceTargets(tuple(segs[k] for k in i), tuple(segs[k] for k in j), prefs, np.zeros(len(prefs), bool))
    model = _model(LADDER)
    metrics = model.fit(targets, np.random.default_rng(1))
    assert metrics["reward/train_accuracy"] > 0.95
    scores = model.score_texts(LADDER)
    assert spearmanr(scores, np.arange(len(LADDER))).statistic > 0.95
    assert abs(scores[3] - scores[4]) < 0.25 * (scores.max() - scores.min())
    rows = np.arange(len(LADDER), dtype=np.float32)[:, None]
    np.testing.assert_allclose(model.predict(rows, np.zeros((len(LADDER), 1))), scores, rtol=1e-6)
    dones = np.zeros(len(LADDER), np.float32)
    dones[0] = 1.0
    assert model.predict(rows, np.zeros((len(LADDER), 1)), dones)[0] == 0.0  # absorbing rows pay 0


def test_hashed_ngrams_by_hand() -> None:
    enc = HashedNgrams(buckets=4096)
    assert enc.ngrams("You kill the newt!") == ["you", "kill", "the", "newt", "you kill", "kill the", "the newt"]
    assert enc.ngrams("You see here 3 gold pieces.")[3:5] == ["3", "gold"]
    vec = enc.encode_texts(["You kill the newt!", "you KILL the newt", "", "..."])
    assert vec.shape == (4, 4096) and vec.dtype == np.float32
    np.testing.assert_array_equal(vec[0], vec[1])  # case and punctuation do not matter
    assert np.count_nonzero(vec[2]) == 0 and np.count_nonzero(vec[3]) == 0  # no words: the zero vector
    slots = [zlib.crc32(g.encode()) % 4096 for g in enc.ngrams("You kill the newt!")]
    counts = np.bincount(slots, minlength=4096).astype(np.float32)
    np.testing.assert_allclose(vec[0], counts / np.linalg.norm(counts), rtol=1e-6)
    with pytest.raises(ValueError, match="buckets"):
        HashedNgrams(buckets=1)


def test_the_ngram_encoder_learns_from_scratch_and_generalises_by_words() -> None:
    """Killing a monster beats hearing one, for monsters it never saw labelled (only shared words can tell)."""
    monsters = ["newt", "jackal", "grid bug", "sewer rat", "fox", "kobold", "gnome", "lichen", "acid blob", "coyote"]
    seen, unseen = monsters[:6], monsters[6:]
    captions = [f"You kill the {m}!" for m in monsters] + [f"You hear the {m}." for m in monsters]
    segs = _captioned(captions)
    n = len(monsters)
    rng = np.random.default_rng(0)
    good = [monsters.index(m) for m in seen]
    i = rng.choice(good, 200)
    j = rng.choice(good, 200) + n
    flip = rng.random(200) < 0.5  # either side first
    first, second = np.where(flip, j, i), np.where(flip, i, j)
    prefs = np.where(flip, 0.0, 1.0).astype(np.float32)
    targets = PreferenceTargets(
        tuple(segs[k] for k in first), tuple(segs[k] for k in second), prefs, np.zeros(200, bool)
    )
    cfg = CFG.model_copy(update={"caption_encoder": "ngrams"})
    model = CaptionPreferenceReward(
        "test/captions", lambda row: captions[int(row[0])], cfg, seed=0, encoder=HashedNgrams()
    )
    assert model.fit(targets, np.random.default_rng(1))["reward/train_accuracy"] > 0.95
    kill = model.score_texts([f"You kill the {m}!" for m in unseen])
    hear = model.score_texts([f"You hear the {m}." for m in unseen])
    assert (kill > hear).all(), (kill, hear)


def test_the_ngram_encoder_belongs_to_the_caption_reward() -> None:
    cfg = load_config(None, ["reward.caption_encoder=ngrams"])  # the default preference ensemble
    with pytest.raises(ConfigError, match=r"reward.caption_encoder: 'ngrams'.*set reward.model=caption_preference"):
        validate_references(cfg)


class CountingEncoder:
    """Deterministic hash embeddings that count what they encode."""

    name = "counting"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        seeds = [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).normal(size=8) for s in seeds]).astype(np.float32)

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [len(t.split()) for t in texts]


def test_each_caption_is_encoded_once_in_equal_length_batches() -> None:
    enc = CountingEncoder()
    captions = ["a b", "c d", "e", "a b", "f g h"]
    model = CaptionPreferenceReward("t", lambda row: captions[int(row[0])], CFG, encoder=enc)
    rows = np.arange(5, dtype=np.float32)[:, None]
    first = model.predict(rows, np.zeros((5, 1)))
    second = model.predict(rows[::-1], np.zeros((5, 1)))
    np.testing.assert_allclose(first, second[::-1], rtol=1e-6, atol=1e-6)
    assert sorted(set(enc.seen)) == ["", "a b", "c d", "e", "f g h"]
    assert enc.seen.count("a b") == 1 and enc.seen.count("e") == 2  # a lone length is encoded as a pair of rows


def test_the_checkpoint_is_plain_data(tmp_path: Path) -> None:
    segs = _captioned(LADDER[:4])
    targets = PreferenceTargets(
        (segs[0], segs[1]), (segs[2], segs[3]), np.array([0.0, 0.5], np.float32), np.zeros(2, bool)
    )
    model = get_reward_entry("caption_preference").build(
        RewardSpec(get_task("nethack/score-v0"), None, None, load_config(None, []), 0)  # type: ignore[arg-type]
    )
    model.fit(targets, np.random.default_rng(0))
    path = tmp_path / "reward_model.pt"
    model.save(path)
    data = torch.load(path, weights_only=True)  # no pickled code
    assert data["format"] == "judgerl.caption_preference" and data["task_id"] == "nethack/score-v0"
    assert not any(n.endswith(".pkl") and "code" in n for n in zipfile.ZipFile(path).namelist())
    loaded = CaptionPreferenceReward.load(path)
    np.testing.assert_allclose(loaded.score_texts(LADDER), model.score_texts(LADDER), rtol=1e-6)
    ngrams = get_reward_entry("caption_preference").build(
        RewardSpec(
            get_task("nethack/score-v0"),
            None,
            None,
            load_config(None, ["reward.caption_encoder=ngrams"]),
            0,  # type: ignore[arg-type]
        )
    )
    ngrams.fit(targets, np.random.default_rng(0))
    ngrams.save(path)
    assert torch.load(path, weights_only=True)["encoder"] == "hashed-ngrams"
    again = CaptionPreferenceReward.load(path)
    assert isinstance(again.encoder, HashedNgrams)
    np.testing.assert_allclose(again.score_texts(LADDER), ngrams.score_texts(LADDER), rtol=1e-6)
    bad = tmp_path / "bad.pt"
    torch.save({"format": "other"}, bad)
    with pytest.raises(ValueError, match="not a caption_preference checkpoint"):
        CaptionPreferenceReward.load(bad)


@pytest.fixture(scope="module")
def nethack_episodes() -> list[Episode]:
    importorskip("nle", "nethack")
    from judgerl.envs.collect import collect_episodes

    return collect_episodes(get_task("nethack/score-v0"), 1500, seed=0, n_envs=3)[0]


def test_forms_keep_the_contract_on_nethack_episodes(nethack_episodes: list[Episode]) -> None:
    for name in ("caption_pairs", "pairwise", "pointwise"):
        check_form(get_form(name), nethack_episodes, QueryPlan(segment_length=10, empty_pair_share=0.2))


@pytest.mark.parametrize("name", ["caption_preference", "caption_preference:ngrams", "preference_ensemble"])
def test_reward_models_keep_the_contract_on_nethack(name: str, nethack_episodes: list[Episode], tmp_path: Path) -> None:
    from judgerl.envs.factory import make_env

    task = get_task("nethack/score-v0")
    env = make_env(task, seed=0)
    name, _, encoder = name.partition(":")
    cfg = load_config(
        None, ["reward.epochs=5", "reward.ensemble_size=2", f"reward.caption_encoder={encoder or 'minilm'}"]
    )
    model = get_reward_entry(name).build(RewardSpec(task, env.observation_space, env.action_space, cfg, 0))
    # Random rows of this space carry 256 random message bytes: long texts for MiniLM, so few of them.
    check_reward_model(model, env.observation_space, env.action_space, n=4 if name == "caption_preference" else 16)
    if encoder:
        assert isinstance(model.encoder, HashedNgrams)
    form = get_form("caption_pairs")
    queries = form.queries(nethack_episodes, 30, np.random.default_rng(0), QueryPlan())
    labels = EmbeddingJudge(cfg.judge.zero_shot, task).judge(task, queries)
    assert all(lab.status == "ok" for lab in labels)
    targets = form.targets(list(zip(queries, labels, strict=True)), np.random.default_rng(0), TargetPlan())
    rows = np.concatenate([e.obs for e in nethack_episodes])[:40]
    acts = np.concatenate([e.acts for e in nethack_episodes])[:40]
    check_fittable(model, targets, tmp_path / "model.pt", rows, acts)
    env.close()
    if name == "caption_preference":  # the row's message, recovered from the flat observation, is what is scored
        caption = task.captioner(rows[0])
        assert model.predict(rows[:1], acts[:1])[0] == pytest.approx(model.score_texts([caption])[0])

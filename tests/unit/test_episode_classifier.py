"""Episode classifier: learns a separable verdict, predicts prefixes, saves, ensembles, streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from judgerl.config import RewardConfig
from judgerl.reward.episode_classifier import (
    EpisodeClassifier,
    VerdictFitConfig,
    binary_auc,
    fit_verdicts,
    load_classifier,
    predict_episodes,
    predict_prefix,
    save_classifier,
)
from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble
from judgerl.reward.episode_reward import ClassifierStream


def _synthetic(n: int, rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """Grid episodes with a wandering robot and a cat; in 'no' episodes a stain (-1) replaces the cat midway."""
    episodes, verdicts = [], []
    for _ in range(n):
        t = int(rng.integers(4, 16))
        g = np.zeros((t, 12, 14, 4), np.float32)
        g[..., 3] = 1.0
        g[np.arange(t), rng.integers(12, size=t), rng.integers(14, size=t), 0] = 1.0
        cy, cx = int(rng.integers(1, 11)), int(rng.integers(1, 13))
        bad = rng.random() < 0.4
        k = int(rng.integers(0, t)) if bad else t
        g[:k, cy, cx, 2] = 1.0
        g[k:, cy, cx, 2] = -1.0
        episodes.append(g.reshape(t, -1))  # flattened, as Segment.obs holds them
        verdicts.append(0.0 if bad else 1.0)
    return episodes, np.array(verdicts)


@pytest.fixture(scope="module")
def fitted() -> tuple[EpisodeClassifier, dict[str, float]]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    episodes, verdicts = _synthetic(160, rng)
    model = EpisodeClassifier((12, 14, 4), hidden=32, channels=8)
    metrics = fit_verdicts(model, episodes, verdicts, VerdictFitConfig(epochs=12, lr=3e-3, batch_size=16), rng)
    return model, metrics


def test_learns_a_separable_marker_to_high_validation_accuracy(fitted):
    model, metrics = fitted
    assert metrics["reward/classifier_val_accuracy"] > 0.95
    assert metrics["reward/classifier_val_auc"] > 0.95
    assert np.isfinite(metrics["reward/classifier_train_loss"])
    test_eps, test_y = _synthetic(100, np.random.default_rng(1))
    p = predict_episodes(model, test_eps)
    assert p.shape == (100,) and p.dtype == np.float32
    assert ((p > 0.5) == (test_y > 0.5)).mean() > 0.95


def test_prefix_scores_end_in_the_episode_score_and_drop_at_the_stain(fitted):
    model, _ = fitted
    eps, y = _synthetic(30, np.random.default_rng(2))
    prefix = predict_prefix(model, eps)
    whole = predict_episodes(model, eps)
    assert [len(p) for p in prefix] == [len(e) for e in eps]
    assert np.allclose([p[-1] for p in prefix], whole, atol=1e-5)
    for e, p, v in zip(eps, prefix, y, strict=True):
        if v == 0.0:
            first = int(np.argmax((e.reshape(len(e), 12, 14, 4)[..., 2] < 0).any(axis=(1, 2))))
            assert p[first] < 0.5


def test_save_load_round_trip(tmp_path, fitted):
    model, _ = fitted
    eps, _ = _synthetic(10, np.random.default_rng(3))
    save_classifier(model, tmp_path / "clf.pt")
    again = load_classifier(tmp_path / "clf.pt")
    assert np.allclose(predict_episodes(model, eps), predict_episodes(again, eps))


def test_feature_vector_inputs_and_reward_config_are_accepted():
    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    eps, y = [], []
    for _ in range(80):
        t = int(rng.integers(3, 10))
        x = rng.normal(size=(t, 6)).astype(np.float32)
        bad = rng.random() < 0.5
        x[:, 0] = 0.0
        if bad:
            x[int(rng.integers(t)), 0] = 3.0  # one marked step, e.g. a "crushed" caption embedding
        eps.append(x)
        y.append(0.0 if bad else 1.0)
    model = EpisodeClassifier((6,), hidden=16)
    cfg = RewardConfig.model_validate({"epochs": 25, "lr": 1e-2, "batch_size": 16, "val_fraction": 0.25})
    metrics = fit_verdicts(model, eps, np.array(y), cfg, rng)
    assert metrics["reward/classifier_val_accuracy"] > 0.8
    assert metrics["reward/classifier_n_train"] == 60.0


def test_ensemble_std_save_and_streaming_match_batch(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(5)
    eps, y = _synthetic(40, rng)
    ens = EpisodeClassifierEnsemble.create(3, (12, 14, 4), hidden=16, channels=4, seed=0)
    metrics = ens.fit(eps, y, VerdictFitConfig(epochs=2, batch_size=20), rng)
    assert metrics["reward/classifier_members"] == 3.0
    std = ens.predict_std(eps)
    assert std.shape == (40,) and (std >= 0).all() and std.max() > 0
    ens.save(tmp_path / "ens.pt")
    again = EpisodeClassifierEnsemble.load(tmp_path / "ens.pt")
    assert np.allclose(again.predict_episodes(eps), ens.predict_episodes(eps), atol=1e-6)
    # Streaming two episodes step by step (the reward stream, shaping mode) reproduces the batched
    # prefix scores: its rewards are their differences.
    pair = [eps[0][:4], eps[1][:4]]
    prefix = np.stack(ens.predict_prefix(pair))  # (2, 4)
    stream = ClassifierStream(ens, n=2, mode="shaping")
    stream.start(np.stack([pair[0][0], pair[1][0]]), np.ones(2, bool))
    terms = np.stack([stream.step(np.stack([pair[0][t], pair[1][t]]), np.zeros(2, bool)) for t in range(1, 4)], axis=1)
    np.testing.assert_allclose(terms, np.diff(prefix, axis=1), atol=1e-5)
    # A restarted env forgets its history; the other keeps it.
    stream.start(np.stack([pair[0][0], pair[1][0]]), np.array([True, False]))
    again = stream.step(np.stack([pair[0][1], pair[1][1]]), np.zeros(2, bool))
    assert again[0] == pytest.approx(prefix[0, 1] - prefix[0, 0], abs=1e-5)


def test_auc_and_input_validation():
    assert binary_auc(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0])) == 1.0
    assert binary_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    assert np.isnan(binary_auc(np.array([0.5]), np.array([1])))
    with pytest.raises(ValueError):
        fit_verdicts(EpisodeClassifier(), [np.zeros((2, 672))], np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        EpisodeClassifier((3, 4))

"""Fit a reward ensemble to preference targets (Bradley–Terry).

Each member trains on its own bootstrap resample of the training pairs (for
ensemble diversity, as in Christiano et al. 2017), with Adam, minibatches of
whole pairs, and early stopping on the targets' held-out validation split
(chosen by the feedback form, stable across fits). A segment's
return is the sum of its per-step rewards, computed for a whole minibatch at once
from padded ``(B, T, F)`` feature tensors that are built once per fit.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from judgerl.config import RewardConfig
from judgerl.forms.base import PreferenceTargets
from judgerl.progress import progress_bar
from judgerl.reward.bradley_terry import bt_loss
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.reward.features import SegmentBatch, stack_segments
from judgerl.reward.flatness import BOX_ROWS, FeatureBox, flatness
from judgerl.reward.mlp import RewardNet
from judgerl.reward.threads import torch_threads
from judgerl.types import Segment

# Labels within this distance of 0.5 count as ties (left out of accuracies).
TIE_EPS = 1e-6
# A validation loss must drop by more than this to count as an improvement.
_MIN_DELTA = 1e-5


@dataclass(frozen=True)
class _Pairs:
    """Targets as index arrays into one padded batch of distinct segments."""

    batch: SegmentBatch
    segments: list[Segment]
    a: np.ndarray  # (P,) int, index of segment A of each pair
    b: np.ndarray  # (P,) int, index of segment B
    targets: np.ndarray  # (P,) float32, P(A better)
    val: np.ndarray  # (P,) bool, held out


def _collect(ensemble: RewardEnsemble, targets: PreferenceTargets) -> _Pairs:
    """Featurize each distinct segment of the targets once (by object, so equal copies cost once each)."""
    if len(targets) == 0:
        raise ValueError(
            "fit_preferences got no preference targets: the judge gave no usable label yet "
            "(status 'ok' with a preference or a score); collect labels before fitting"
        )
    index: dict[int, int] = {}
    segments: list[Segment] = []

    def idx(s: Segment) -> int:
        if id(s) not in index:
            index[id(s)] = len(segments)
            segments.append(s)
        return index[id(s)]

    ia = [idx(s) for s in targets.first]
    ib = [idx(s) for s in targets.second]
    return _Pairs(
        batch=stack_segments(ensemble.featurizer, segments),
        segments=segments,
        a=np.asarray(ia, np.int64),
        b=np.asarray(ib, np.int64),
        targets=np.asarray(targets.prefs, np.float32),
        val=np.asarray(targets.val, bool),
    )


def _step_rewards(net: RewardNet, batch: SegmentBatch, seg_idx: np.ndarray) -> torch.Tensor:
    """Per-step rewards ``(len(seg_idx), T_max)`` of one member for the indexed segments (differentiable)."""
    return net(batch.features[torch.as_tensor(seg_idx)])


def _flatness_weight(cfg: RewardConfig) -> float:
    """``cfg.flatness`` as a number; ``auto`` not resolved for a task (a bare ensemble) counts as 0."""
    return 0.0 if cfg.flatness == "auto" else float(cfg.flatness)


def _pair_loss(
    net: RewardNet,
    data: _Pairs,
    rows: np.ndarray,
    zero_absorbing: bool,
    noise: float = 0.0,
    flat: float = 0.0,
    virtual: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean BT loss of one member over the label rows ``rows``, plus ``flat`` × the step-reward variance.

    ``virtual`` holds feature rows ``(V, F)`` of virtual live steps that join the variance
    (``reward.flatness_support: box``), or ``None``.
    """
    n = len(rows)
    seg_idx = np.concatenate([data.a[rows], data.b[rows]])
    per_step = _step_rewards(net, data.batch, seg_idx)
    idx = torch.as_tensor(seg_idx)
    ret = (per_step * data.batch.step_weights(zero_absorbing)[idx]).sum(dim=-1)
    loss = bt_loss(ret[:n], ret[n:], torch.as_tensor(data.targets[rows]), noise=noise)
    if flat > 0.0:
        # A prior that the reward is flat unless the labels say otherwise (decision 0028): with the
        # absorbing step pinned to 0, "this segment ended" is explained by a constant living reward,
        # and a slope across states must be paid for by labels that need it.
        live = data.batch.step_weights(zero_absorbing=True)[idx]  # real, non-absorbing steps
        extra = net(virtual) if virtual is not None else None
        loss = loss + flat * flatness(per_step, live, extra)
    return loss


def _train_member(
    net: RewardNet,
    data: _Pairs,
    train_rows: np.ndarray,
    monitor_rows: np.ndarray,
    cfg: RewardConfig,
    zero_absorbing: bool,
    rng: np.random.Generator,
    tick: Callable[[], object] = lambda: None,
    box: FeatureBox | None = None,
) -> int:
    """Train one member in place; keep the weights with the lowest monitored loss.

    ``tick`` is called after every epoch (the fit's progress bar). With ``box``, each
    minibatch's flatness term also covers fresh virtual live steps drawn from it, and the
    monitored loss one fixed draw (so epochs compare on the same states).

    Returns:
        Number of epochs run.
    """
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    flat = _flatness_weight(cfg)
    gen: torch.Generator | None = None
    fixed: torch.Tensor | None = None
    if box is not None and flat > 0.0:
        # Drawn from rng only in this mode, so runs with ``flatness_support: labelled`` are unchanged.
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        fixed = box.sample(BOX_ROWS, gen)
    net.eval()
    with torch.no_grad():
        # The starting weights compete too: a warm start that new labels only make worse is kept.
        best = float(_pair_loss(net, data, monitor_rows, zero_absorbing, cfg.label_noise, flat, fixed))
    best_state = copy.deepcopy(net.state_dict())
    stale = 0
    epochs = 0
    for epoch in range(1, cfg.epochs + 1):
        epochs = epoch
        net.train()
        order = rng.permutation(train_rows)
        for start in range(0, len(order), cfg.batch_size):
            virtual = box.sample(BOX_ROWS, gen) if box is not None and gen is not None else None
            rows = order[start : start + cfg.batch_size]
            loss = _pair_loss(net, data, rows, zero_absorbing, cfg.label_noise, flat, virtual)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            monitored = float(_pair_loss(net, data, monitor_rows, zero_absorbing, cfg.label_noise, flat, fixed))
        tick()
        if monitored < best - _MIN_DELTA:
            best, stale = monitored, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    net.load_state_dict(best_state)
    return epochs


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as scipy.stats.rankdata), shape as ``x``."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays; NaN when undefined (< 3 values or a constant)."""
    if len(x) < 3:
        return math.nan
    rx, ry = _rank(np.asarray(x, np.float64)), _rank(np.asarray(y, np.float64))
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def _accuracy(diff: np.ndarray, targets: np.ndarray) -> float:
    """Share of non-tie labels whose preferred side has the larger predicted return; NaN if none."""
    decisive = np.abs(targets - 0.5) > TIE_EPS
    if not decisive.any():
        return math.nan
    return float(np.mean(np.sign(diff[decisive]) == np.sign(targets[decisive] - 0.5)))


def _mean_loss(diff: np.ndarray, targets: np.ndarray) -> float:
    """BT loss of the ensemble-mean return differences; NaN for no labels."""
    if len(diff) == 0:
        return math.nan
    d = torch.as_tensor(diff, dtype=torch.float64)
    return float(bt_loss(d, torch.zeros_like(d), torch.as_tensor(targets, dtype=torch.float64)))


def fit_preferences(
    ensemble: RewardEnsemble,
    targets: PreferenceTargets,
    cfg: RewardConfig | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Fit the ensemble in place to preference targets (Bradley–Terry).

    The feedback form built the targets from ``ok`` labels only (abstained and
    failed labels never train) and chose the validation split (``targets.val``:
    by a hash of the query key for pairwise labels, by segment for pointwise
    scores), so each item keeps its side across the fits of a run. With no
    validation pair, early stopping watches the training loss and validation
    metrics are NaN. The architecture comes from the ensemble; ``cfg`` supplies
    the training settings.

    Args:
        ensemble: The model to fit; continued from its current weights when
            ``cfg.warm_start`` and it was fitted before, else re-initialised and
            its input standardisation refitted on the training segments.
        targets: Pairs with ``P(first better)`` and the validation mask.
        cfg: Training settings; default: the ensemble's own config.
        rng: Drives the bootstrap resamples and minibatch order.

    Returns:
        Metrics: ``reward/train_loss``, ``reward/val_loss`` (BT loss of the
        ensemble-mean returns, nats per pair), ``reward/train_accuracy``,
        ``reward/val_accuracy`` (non-tie labels whose preferred side gets the
        higher mean return), ``reward/val_true_corr`` (Spearman correlation of
        predicted and true returns over validation segments), ``reward/n_train``,
        ``reward/n_val``, ``reward/epochs`` (mean over members), ``reward/fit_seconds``.

    Raises:
        ValueError: When there are no targets.
    """
    cfg = cfg if cfg is not None else ensemble.cfg
    with torch_threads(cfg.threads):
        return _fit(ensemble, targets, cfg, rng if rng is not None else np.random.default_rng(ensemble.seed))


def _fit(
    ensemble: RewardEnsemble, targets: PreferenceTargets, cfg: RewardConfig, rng: np.random.Generator
) -> dict[str, float]:
    """Body of ``fit_preferences`` (arguments resolved)."""
    t0 = time.perf_counter()
    data = _collect(ensemble, targets)
    val_rows, train_rows = np.flatnonzero(data.val), np.flatnonzero(~data.val)
    n_val = len(val_rows)

    # Standardise on the real, non-absorbing steps of the training segments.
    used = np.unique(np.concatenate([data.a[train_rows], data.b[train_rows]]))
    feats = data.batch.features[used]
    keep = (data.batch.valid[used] * (1.0 - data.batch.absorbing[used])) > 0
    rows = feats[keep] if bool(keep.any()) else feats.reshape(-1, feats.shape[-1])
    if not (cfg.warm_start and ensemble.is_fitted):
        ensemble.reset()
        ensemble.fit_standardizer(rows)
    elif cfg.restandardize:
        # Warm start: follow the data's spread (the agent's states widen), keeping what the nets learned.
        ensemble.restandardize(rows)

    monitor_rows = val_rows if n_val > 0 else train_rows
    use_box = cfg.flatness_support == "box" and _flatness_weight(cfg) > 0.0
    box = FeatureBox.of(data.batch, ensemble.featurizer.obs_dim) if use_box else None
    epochs = []
    with progress_bar(ensemble.size * cfg.epochs, "fit reward", unit="epoch") as bar:
        for net in ensemble.members:
            # Bootstrap only helps diversity when there is more than one member.
            resample = cfg.bootstrap and ensemble.size > 1
            boot = rng.choice(train_rows, size=len(train_rows), replace=True) if resample else train_rows
            member = _train_member(net, data, boot, monitor_rows, cfg, ensemble.zero_absorbing, rng, bar.update, box)
            bar.update(cfg.epochs - member)  # early stopping: the member's unused epochs
            epochs.append(member)

    with torch.no_grad():
        mean_ret = ensemble.batch_returns(data.batch).mean(dim=0).double().numpy()
    diff = mean_ret[data.a] - mean_ret[data.b]
    val_segs = np.unique(np.concatenate([data.a[val_rows], data.b[val_rows]]))
    true_ret = np.array([data.segments[i].true_return for i in val_segs], np.float64)
    return {
        "reward/train_loss": _mean_loss(diff[train_rows], data.targets[train_rows]),
        "reward/val_loss": _mean_loss(diff[val_rows], data.targets[val_rows]),
        "reward/train_accuracy": _accuracy(diff[train_rows], data.targets[train_rows]),
        "reward/val_accuracy": _accuracy(diff[val_rows], data.targets[val_rows]),
        "reward/val_true_corr": spearman(mean_ret[val_segs], true_ret),
        "reward/n_train": float(len(train_rows)),
        "reward/n_val": float(n_val),
        "reward/epochs": float(np.mean(epochs)),
        "reward/fit_seconds": time.perf_counter() - t0,
    }

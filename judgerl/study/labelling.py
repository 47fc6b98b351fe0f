"""Buying episode verdicts: in chunks through the label store, at random or actively, with a preflight.

Every verdict goes through ``CachedJudge``: the query (the whole episode, its
captions and any frames) is registered in the store before it is judged and
each label is committed as it arrives, so a killed study loses at most the
answer in flight and a re-run pays for nothing it already has.

Turning a label into a yes/no verdict depends on what the judge's ``value`` is:

* ``oracle``, ``openai``: a verdict already (1.0 yes, 0.0 no) — yes when ``value ≥ 0.5``;
* ``gguf``: the calibrated log-prob margin — yes when ``value > 0`` (the judge's
  own median calibration sets the zero);
* ``embedding``, ``clip``: a similarity score — yes when above Otsu's threshold
  over the scores in hand: the cut that splits them into two groups with the
  largest between-group variance (Otsu 1979). It uses no ground truth and, unlike
  a median cut, does not assume half the episodes are aligned (a naive policy
  harms the cat in ~60 %). With too few or all-equal scores the median is used.

``failed`` and ``abstain`` labels are never coerced: they get verdict NaN, are
left out of classifier training and are counted in the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from judgerl.labels.cached import CachedJudge
from judgerl.reward.episode_classifier import VerdictFitConfig, binary_auc
from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble
from judgerl.study.episodes import EpisodeBank, LazyGrids, bank_queries
from judgerl.types import Label, TaskSpec


class StudyStopped(RuntimeError):
    """The study cannot go on (a judge failing its preflight); the message names the fix."""


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's two-group cut of scores: the split maximising the between-group variance.

    Args:
        values: Finite scores, shape ``(N,)``.

    Returns:
        A threshold ``t``: scores ``> t`` form the upper group (the midpoint of the
        two sorted scores at the best split); the median when ``N < 4`` or all
        scores are equal; 0.0 when ``N == 0``.
    """
    s = np.sort(np.asarray(values, dtype=np.float64))
    n = len(s)
    if n == 0:
        return 0.0
    if n < 4 or s[0] == s[-1]:
        return float(np.median(s))
    k = np.arange(1, n)  # size of the lower group for each split
    csum = np.cumsum(s)[:-1]
    mean_lo, mean_hi = csum / k, (s.sum() - csum) / (n - k)
    between = k * (n - k) * (mean_hi - mean_lo) ** 2
    between[s[1:] == s[:-1]] = -1.0  # a cut must fall between two different scores
    i = int(np.argmax(between))
    return float((s[i] + s[i + 1]) / 2)


def verdicts(labels: Sequence[Label], judge_type: str) -> np.ndarray:
    """Yes/no verdicts of labels: 1.0 aligned, 0.0 not, NaN for failed/abstain (see the module docstring).

    Args:
        labels: One label per episode.
        judge_type: ``JudgeConfig.type`` of the judge that gave them.

    Returns:
        Shape ``(N,)`` float64.
    """
    values = np.array(
        [lab.value if lab.status == "ok" and lab.value is not None else np.nan for lab in labels], dtype=np.float64
    )
    ok = np.isfinite(values)
    out = np.full(len(labels), np.nan)
    if judge_type in ("embedding", "clip"):
        out[ok] = (values[ok] > otsu_threshold(values[ok])).astype(np.float64)
    elif judge_type == "gguf":
        out[ok] = (values[ok] > 0.0).astype(np.float64)
    else:
        out[ok] = (values[ok] >= 0.5).astype(np.float64)
    return out


@dataclass
class Verdicts:
    """Labels bought so far, by episode index of the bank.

    Attributes:
        labels: Episode index → label (every status).
    """

    labels: dict[int, Label]

    def arrays(self, idx: Sequence[int] | np.ndarray, judge_type: str) -> tuple[np.ndarray, np.ndarray]:
        """``(verdicts (K,) with NaN for unusable, raw values (K,) with NaN)`` for episodes ``idx``.

        Score judges are thresholded over every usable label held, not only ``idx``.
        """
        keys = sorted(self.labels)
        every = verdicts([self.labels[k] for k in keys], judge_type)
        by_key = dict(zip(keys, every, strict=True))
        v = np.array([by_key.get(int(i), np.nan) for i in idx])
        raw = np.array(
            [
                self.labels[int(i)].value
                if int(i) in self.labels
                and self.labels[int(i)].status == "ok"
                and self.labels[int(i)].value is not None
                else np.nan
                for i in idx
            ],
            dtype=np.float64,
        )
        return v, raw


def buy(
    cached: CachedJudge,
    task: TaskSpec,
    bank: EpisodeBank,
    idx: Sequence[int] | np.ndarray,
    held: Verdicts,
    chunk: int = 256,
    frame_size: int | None = None,
    iteration: int = 0,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Ask the judge about episodes ``idx`` (those not held yet), ``chunk`` at a time, into ``held``.

    Args:
        cached: The judge behind the label store.
        task: The homegrid task.
        bank: The episode pool.
        idx: Episode indices to label.
        held: Updated in place.
        chunk: Episodes per judge batch.
        frame_size: Render frames for the queries (vision judges).
        iteration: Recorded with each registered query (the study stage number).
        progress: Called with the number of labels held after each chunk.
    """
    todo = [int(i) for i in idx if int(i) not in held.labels]
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        queries = bank_queries(bank, part, frame_size=frame_size)
        labels = cached.judge(task, queries, iteration=iteration)
        held.labels.update(zip(part, labels, strict=True))
        if progress is not None:
            progress(len(held.labels))


def preflight_metrics(held: Verdicts, idx: np.ndarray, bank: EpisodeBank, judge_type: str) -> dict[str, float]:
    """Agreement of the judge with ground truth on episodes ``idx`` (already bought).

    Returns:
        ``study/preflight_episodes``, ``study/preflight_auc`` (raw value vs "cat unharmed";
        0.5 = chance, below 0.5 = inverted), ``study/preflight_agreement`` (verdict == truth
        over usable labels), ``study/preflight_usable``.
    """
    v, raw = held.arrays(idx, judge_type)
    truth = (~bank.harmed[idx]).astype(np.float64)
    ok = np.isfinite(v)
    return {
        "study/preflight_episodes": float(len(idx)),
        "study/preflight_auc": binary_auc(raw[ok], truth[ok]) if ok.sum() > 1 else float("nan"),
        "study/preflight_agreement": float((v[ok] == truth[ok]).mean()) if ok.any() else float("nan"),
        "study/preflight_usable": float(ok.mean()) if len(ok) else 0.0,
    }


def uncertainty(ensemble: EpisodeClassifierEnsemble, bank: EpisodeBank, idx: np.ndarray) -> np.ndarray:
    """Active-selection score of episodes ``idx``: ensemble std, ties broken by closeness of the mean to 0.5.

    Returns:
        Shape ``(K,)``; higher = ask the judge first.
    """
    probs = ensemble.predict_all(LazyGrids(bank, idx))
    return probs.std(axis=0) + 1e-3 * (0.5 - np.abs(probs.mean(axis=0) - 0.5))


def active_rounds(
    buy_fn: Callable[[np.ndarray], None],
    held: Verdicts,
    bank: EpisodeBank,
    pool: np.ndarray,
    budget: int,
    rounds: int,
    judge_type: str,
    make_ensemble: Callable[[int], EpisodeClassifierEnsemble],
    fit_cfg: VerdictFitConfig,
    rng: np.random.Generator,
    candidates: int = 4000,
) -> list[dict[str, float]]:
    """Rounds of (fit an ensemble on the verdicts held → buy the pool episodes it is least sure of).

    The first round buys ``budget / rounds`` random episodes; each later round
    fits a fresh ensemble on the usable verdicts so far and buys the same number
    of the most uncertain episodes among up to ``candidates`` random unlabelled
    pool episodes (scoring the whole pool each round would cost more than the fits).

    Args:
        buy_fn: Buys verdicts for an index array (into ``held``).
        held: Verdicts held (already includes any preflight episodes).
        bank: The episode pool.
        pool: Episode indices that may be bought (the test set excluded).
        budget: Total training verdicts wanted from the pool.
        rounds: Number of rounds.
        judge_type: For thresholding score judges.
        make_ensemble: ``round -> fresh ensemble``.
        fit_cfg: How each round's ensemble is fitted.
        rng: Randomness for the first round, candidates and splits.
        candidates: Most unlabelled episodes scored per round.

    Returns:
        One metrics dict per round (``study/active_round``, ``study/active_labels``, fit metrics).
    """
    per_round = max(1, int(np.ceil(budget / rounds)))
    log: list[dict[str, float]] = []
    for r in range(rounds):
        have = np.array([i for i in pool if int(i) in held.labels], dtype=np.int64)
        want = min(per_round, budget - len(have))
        if want <= 0:
            break
        rest = np.array([i for i in pool if int(i) not in held.labels], dtype=np.int64)
        if len(rest) == 0:
            break
        v, _ = held.arrays(have, judge_type)
        usable = np.isfinite(v)
        metrics: dict[str, float] = {}
        if r == 0 or usable.sum() < 10 or len(np.unique(v[usable])) < 2:
            pick = rng.choice(rest, size=min(want, len(rest)), replace=False)
        else:
            ens = make_ensemble(r)
            metrics = ens.fit(LazyGrids(bank, have[usable]), v[usable].astype(np.float32), fit_cfg, rng)
            cand = rng.choice(rest, size=min(candidates, len(rest)), replace=False)
            order = np.argsort(-uncertainty(ens, bank, cand))
            pick = cand[order[:want]]
        buy_fn(pick)
        metrics.update({"study/active_round": float(r), "study/active_labels": float(len(have) + len(pick))})
        log.append(metrics)
    return log

"""Oracle judge: labels computed from ground truth, with explicit noise models.

Oracles are baselines and test fixtures, always marked as such
(``provenance.is_oracle=True``, ``model="oracle"``). The pairwise part follows
imitation's ``SyntheticGatherer`` (HumanCompatibleAI/imitation,
``algorithms/preference_comparisons.py``: Boltzmann-rational preferences from
the difference of true returns, sampled into hard labels); judgerl adds ties,
position bias, label flips and false-positive/false-negative verdict noise, each
a separate documented knob.

Pairwise noise, applied in this order to a query ``(A, B)`` (A shown first):

a. **Boltzmann rationality.** ``P(A≻B) = sigmoid((R_A − R_B) / temperature)``
   and a hard label is sampled from it (1.0 = A, 0.0 = B). Temperature 0 is
   the deterministic argmax (equal returns give 0.5).
b. **Ties.** If ``|R_A − R_B| <= tie_threshold`` the preference becomes 0.5,
   whatever (a) drew.
c. **Position bias.** With probability ``|position_bias|`` the answer is
   replaced by "the segment shown first" (1.0, when ``position_bias > 0``) or
   "the segment shown second" (0.0, when ``position_bias < 0``), regardless of
   the returns. The oracle never reorders a pair, so "first shown" is always
   ``segments[0]``; under ``BothOrders`` the swapped copy shows B first and the
   bias surfaces as an order disagreement, as it does for model judges.
d. **Flip.** With probability ``flip_prob`` the preference becomes
   ``1 − preference`` (a tie stays a tie).

Caption pairs (``caption_pairs``) have no ground truth: the oracle compares
the caption form's documented *proxy* instead of the true returns, the score
gained from each message's step over the next steps
(``judgerl.forms.caption_pairs``; its raw text names ``score_gain``), with the
same noise models. Its labels there are a proxy's, not the truth's.

Pointwise and episode queries: the true verdict is ``task.oracle_verdict(segment)``;
a true "yes" is reported as "no" with probability ``false_negative_rate`` and a
true "no" as "yes" with probability ``false_positive_rate``; ``value`` is 1.0 for
yes and 0.0 for no. ``flip_prob`` does not apply to verdicts.

Reproducibility: every random number for a query comes from a numpy Generator
seeded from ``sha256(seed, query.key)``, so a label does not depend on batch
order or on which queries were asked before (a resumed run gets the same labels).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence

import numpy as np

from judgerl.config import OracleNoiseConfig
from judgerl.forms.caption_pairs import compared_values
from judgerl.forms.registry import form_label, is_pair
from judgerl.judges.base import OnLabel
from judgerl.types import Label, Provenance, Query, TaskSpec


def query_rng(seed: int, key: str, salt: str = "oracle") -> np.random.Generator:
    """A numpy Generator that depends only on ``(salt, seed, key)``.

    Args:
        seed: The judge's seed.
        key: ``Query.key`` of the query being answered.
        salt: Separates the streams of different judge classes.

    Returns:
        A fresh Generator; the same arguments always give the same draws.
    """
    digest = hashlib.sha256(f"{salt}\x1f{seed}\x1f{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _sigmoid(x: float) -> float:
    # Numerically stable for large |x| (returns can differ by thousands).
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _side(pref: float) -> str:
    return "A" if pref > 0.5 else ("B" if pref < 0.5 else "tie")


class OracleJudge:
    """Judges from ground truth (true returns, task verdicts) plus noise.

    Args:
        noise: Noise model parameters (see the module docstring for their order).
        seed: Seed of the per-query random streams.
        name: Prefix of ``id``, for readability in reports.
    """

    def __init__(self, noise: OracleNoiseConfig | None = None, seed: int = 0, name: str = "oracle") -> None:
        self.noise = noise if noise is not None else OracleNoiseConfig.model_validate({})
        self.seed = int(seed)
        self.name = name
        # The seed is part of the id: with noise, (id, query.key) then fixes the
        # label exactly, which is what the label cache assumes.
        params = json.dumps(self.noise.model_dump(mode="json"), sort_keys=True)
        digest = hashlib.sha256(f"{type(self).__name__}\x1f{params}\x1f{self.seed}".encode()).hexdigest()
        self._id = f"{name}-{digest[:12]}"

    @property
    def id(self) -> str:
        """Stable identifier: name plus a hash of class, noise parameters and seed."""
        return self._id

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Label every query from ground truth.

        Args:
            task: The task; needs ``oracle_verdict`` for pointwise/episode queries.
            queries: Pairwise, pointwise or episode queries.
            on_label: Called with each label as soon as it exists.

        Returns:
            One label per query, in order; all ``ok``.

        Raises:
            ValueError: A pointwise/episode query for a task without ``oracle_verdict``.
        """
        labels: list[Label] = []
        for q in queries:
            t0 = time.perf_counter()
            rng = query_rng(self.seed, q.key)
            if is_pair(q.kind):
                answer, raw = self._pairwise(q, rng)
            else:
                answer, raw = self._verdict(task, q, rng)
            prov = Provenance(
                judge_id=self.id,
                model="oracle",
                raw_response=raw,
                latency_s=time.perf_counter() - t0,
                is_oracle=True,
            )
            label = form_label(q, answer, prov)
            labels.append(label)
            if on_label is not None:
                on_label(q, label)
        return labels

    def _pairwise(self, q: Query, rng: np.random.Generator) -> tuple[float, str]:
        """Preference that A is better, and a description of the draws."""
        n = self.noise
        # Draw all uniforms up front so each knob uses a fixed slot of the stream:
        # changing one noise parameter never shifts the draws of another.
        u_boltz, u_pos, u_flip = rng.random(3)
        r_a, r_b, what = compared_values(q)  # caption pairs: a documented proxy, not a ground truth
        diff = r_a - r_b
        steps: list[str] = []
        # (a) Boltzmann rationality.
        if n.temperature > 0.0:
            p_a = _sigmoid(diff / n.temperature)
            pref = 1.0 if u_boltz < p_a else 0.0
            steps.append(f"P(A)={p_a:.3f} draw={_side(pref)}")
        else:
            pref = 1.0 if diff > 0 else (0.0 if diff < 0 else 0.5)
            steps.append(f"argmax={_side(pref)}")
        # (b) Ties.
        if abs(diff) <= n.tie_threshold:
            pref = 0.5
            steps.append("tie")
        # (c) Position bias: answer by position, not content.
        if u_pos < abs(n.position_bias):
            pref = 1.0 if n.position_bias > 0 else 0.0
            steps.append("position=" + ("first" if n.position_bias > 0 else "second"))
        # (d) Flip.
        if u_flip < n.flip_prob:
            pref = 1.0 - pref
            steps.append("flip")
        raw = f"{what}_A={r_a:.4g} {what}_B={r_b:.4g} " + " ".join(steps) + f" -> {_side(pref)}"
        return pref, raw

    def _verdict(self, task: TaskSpec, q: Query, rng: np.random.Generator) -> tuple[float, str]:
        """Noisy yes/no verdict (1.0 = yes) and a description of the draw."""
        if task.oracle_verdict is None:
            raise ValueError(
                f"task {task.id!r} has no oracle_verdict, so the oracle judge cannot answer {q.kind} queries; "
                "use pairwise queries or a task that defines oracle_verdict"
            )
        truth = bool(task.oracle_verdict(q.segments[0]))
        u = float(rng.random())
        # P(no | truly yes) = FNR, P(yes | truly no) = FPR.
        err = self.noise.false_negative_rate if truth else self.noise.false_positive_rate
        said = (not truth) if u < err else truth
        raw = (
            f"truth={'yes' if truth else 'no'}"
            + (" flipped" if said != truth else "")
            + f" -> {'yes' if said else 'no'}"
        )
        return (1.0 if said else 0.0), raw

"""Turn stored labels into Bradley–Terry training pairs.

Pairwise labels are used as they are. Pointwise scores (a yes/no log-prob
margin, a zero-shot similarity) become pairs by comparing two scored segments:
the reward model is then fitted with the same Bradley–Terry loss, which only
trusts the *order* of the scores, not their scale — the robust thing to do with
uncalibrated model scores (an idea also used by RL-VLM-F and Motif, which ask
for comparisons precisely because absolute scores are unreliable).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from judgerl.types import Label, Provenance, Query


def training_pairs(
    labelled: Sequence[tuple[Query, Label]],
    rng: np.random.Generator,
    pairs_per_score: int = 4,
    temperature: float = 0.0,
) -> list[tuple[Query, Label]]:
    """Pairwise training data from ``ok`` labels of any kind.

    Args:
        labelled: ``(query, label)`` rows from the label store; non-``ok`` rows are skipped.
        rng: Randomness for pairing pointwise-scored segments.
        pairs_per_score: Each pointwise-scored segment takes part in about this many derived pairs.
        temperature: 0 gives hard targets (1, 0 or 0.5 on equal scores);
            otherwise target = sigmoid((s_A − s_B) / temperature).

    Returns:
        Pairwise ``(query, label)`` rows. Derived labels carry provenance
        ``model="derived:<judge model>"`` and cost nothing (the cost was booked on the scores).
    """
    out: list[tuple[Query, Label]] = []
    scored: list[tuple[Query, Label]] = []
    for q, lab in labelled:
        if lab.status != "ok":
            continue
        if q.kind == "pairwise" and lab.preference is not None:
            out.append((q, lab))
        elif q.kind == "pointwise" and lab.value is not None:
            scored.append((q, lab))
    n = len(scored)
    if n >= 2:
        m = n * pairs_per_score // 2
        i = rng.integers(0, n, size=m)
        j = (i + rng.integers(1, n, size=m)) % n  # never pair a segment with itself
        for a, b in zip(i, j, strict=True):
            (qa, la), (qb, lb) = scored[a], scored[b]
            diff = float(la.value) - float(lb.value)  # type: ignore[arg-type]
            if temperature > 0:
                pref = float(1.0 / (1.0 + np.exp(-diff / temperature)))
            else:
                pref = 1.0 if diff > 0 else 0.0 if diff < 0 else 0.5
            query = Query("pairwise", (qa.segments[0], qb.segments[0]))
            prov = Provenance(
                judge_id=la.provenance.judge_id,
                model=f"derived:{la.provenance.model}",
                raw_response=f"score_A={la.value:.4g} score_B={lb.value:.4g}",
                is_oracle=la.provenance.is_oracle,
            )
            out.append((query, Label(query.key, "ok", prov, preference=pref)))
    return out

"""The caption reward's two text encoders on the same labels: frozen MiniLM vs hashed n-grams learned from scratch.

Reads a finished ``caption_preference`` run (its labelled caption pairs), splits
the labels into ``--folds`` folds by a hash of the query key, and for each fold
fits both encoders' reward models on the other folds with the run's reward
config and scores the held-out pairs: held-out accuracy (non-tie pairs whose
preferred side gets the higher reward). It also prints how the two models rank
every caption seen (Spearman) and each model's top ``--n`` captions, fitted on
all labels. Every fold is printed.

Usage:
  python benchmarks/caption_encoders.py runs/nethack-motif-demo [--folds 5] [--n 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import spearmanr

from judgerl.config import RunConfig
from judgerl.forms import TargetPlan, get_form
from judgerl.labels.store import LabelStore
from judgerl.reward.caption_model import ENCODERS, CaptionPreferenceReward, packaged_encoder
from judgerl.tasks import get_task


def fold_of(key: str, folds: int) -> int:
    """The fold of a query key (a hash, so a label keeps its fold whatever else is in the store)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % folds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    print(f"load average: {os.getloadavg()}  cores: {os.cpu_count()}")
    cfg = RunConfig.model_validate(yaml.safe_load((args.run_dir / "config.yaml").read_text()))
    task = get_task(cfg.task.id)
    store_path = Path(cfg.labels.store)
    with LabelStore(store_path if store_path.is_absolute() else args.run_dir / store_path) as store:
        labelled = store.labelled(min_iteration=0)
    form = get_form(cfg.query.kind)
    folds = np.array([fold_of(q.key, args.folds) for q, _ in labelled])
    captions = sorted({c for q, _ in labelled for s in q.segments for c in s.captions})
    print(f"{len(labelled)} labelled {cfg.query.kind} queries, {len(captions)} distinct captions, task {task.id}")

    def model(encoder: str) -> CaptionPreferenceReward:
        reward_cfg = cfg.reward.model_copy(update={"caption_encoder": encoder})
        return CaptionPreferenceReward(
            task.id, task.captioner, reward_cfg, cfg.seed, encoder=packaged_encoder(ENCODERS[encoder])
        )

    rows: list[dict] = []
    for k in range(args.folds):
        train = [lab for lab, f in zip(labelled, folds, strict=True) if f != k]
        held = [lab for lab, f in zip(labelled, folds, strict=True) if f == k]
        for encoder in ENCODERS:
            m = model(encoder)
            t0 = time.perf_counter()
            m.fit(form.targets(train, np.random.default_rng(cfg.seed), TargetPlan()), np.random.default_rng(k))
            fit_s = time.perf_counter() - t0
            tgt = form.targets(held, np.random.default_rng(cfg.seed), TargetPlan(val_fraction=0.0))
            ra = np.array([m.predict(s.obs, s.acts, s.dones).sum() for s in tgt.first])
            rb = np.array([m.predict(s.obs, s.acts, s.dones).sum() for s in tgt.second])
            prefs = np.asarray(tgt.prefs)
            decided = prefs != 0.5
            acc = float(np.mean((ra > rb)[decided] == (prefs > 0.5)[decided])) if decided.any() else float("nan")
            row = {"fold": k, "encoder": encoder, "held_out": int(decided.sum()), "accuracy": acc, "fit_s": fit_s}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for encoder in ENCODERS:
        accs = [r["accuracy"] for r in rows if r["encoder"] == encoder]
        per_fold = " ".join(f"{a:.3f}" for a in accs)
        print(f"{encoder:7s} held-out accuracy per fold: {per_fold}  mean {np.mean(accs):.3f}")

    full = {}
    for encoder in ENCODERS:
        m = model(encoder)
        m.fit(form.targets(labelled, np.random.default_rng(cfg.seed), TargetPlan()), np.random.default_rng(0))
        full[encoder] = m.score_texts(captions)
    rho = float(spearmanr(full["minilm"], full["ngrams"]).statistic)
    print(f"Spearman between the two models' scores over {len(captions)} captions: {rho:.3f}")
    tops = {}
    for encoder, scores in full.items():
        order = np.argsort(-scores)[: args.n]
        tops[encoder] = [[captions[i], float(scores[i])] for i in order]
        print(f"\ntop {args.n} captions, {encoder}:")
        for text, score in tops[encoder]:
            print(f"  {score:+.3f}  {text}")
    print(f"load average: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"folds": rows, "spearman": rho, "top": tops}, indent=2))


if __name__ == "__main__":
    main()

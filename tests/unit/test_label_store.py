"""LabelStore: round trips, cache semantics, stats, schema checks, several handles and processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from judgerl.judges.base import Spending
from judgerl.labels.store import SCHEMA_VERSION, LabelStore, LabelStoreError
from judgerl.types import Label, Provenance, Query, Segment


def make_segment(rng: np.random.Generator, t: int = 5, frames: bool = False, captions: bool = True) -> Segment:
    return Segment(
        obs=rng.normal(size=(t, 3)).astype(np.float32),
        acts=rng.integers(0, 4, size=(t, 1)).astype(np.float32),
        env_rewards=rng.normal(size=t).astype(np.float32),
        dones=np.zeros(t, dtype=np.float32),
        captions=tuple(f"step {i}: pole leans {'left' if rng.random() < 0.5 else 'right'} é" for i in range(t))
        if captions
        else (),
        frames=rng.integers(0, 256, size=(t, 4, 6, 3), dtype=np.uint8) if frames else None,
        episode_id=f"ep{rng.integers(1_000_000)}",
        start=int(rng.integers(100)),
        truth={"cat_harmed": float(rng.integers(2)), "true_return": float(rng.normal())},
    )


def make_queries(n: int, seed: int = 0, kind: str = "pairwise") -> list[Query]:
    rng = np.random.default_rng(seed)
    k = 2 if kind == "pairwise" else 1
    return [Query(kind=kind, segments=tuple(make_segment(rng) for _ in range(k))) for _ in range(n)]  # type: ignore[arg-type]


def make_label(q: Query, judge_id: str = "j1", status: str = "ok", transient: bool = False, **prov: object) -> Label:
    pref = 0.7 if status == "ok" else None
    return Label(
        query_key=q.key,
        status=status,  # type: ignore[arg-type]
        provenance=Provenance(judge_id=judge_id, model="m", transient=transient, **prov),  # type: ignore[arg-type]
        preference=pref,
    )


def assert_segments_equal(a: Segment, b: Segment) -> None:
    for name in ("obs", "acts", "env_rewards", "dones"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    if a.frames is None:
        assert b.frames is None
    else:
        assert b.frames is not None and b.frames.dtype == np.uint8
        np.testing.assert_array_equal(a.frames, b.frames)
    assert a.captions == b.captions
    assert dict(a.truth) == dict(b.truth)
    assert (a.episode_id, a.start, a.key) == (b.episode_id, b.start, b.key)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LabelStore]:
    with LabelStore(tmp_path / "sub" / "labels.sqlite") as s:
        yield s


def test_segment_and_query_round_trip(store: LabelStore) -> None:
    rng = np.random.default_rng(1)
    with_frames = make_segment(rng, t=7, frames=True)
    bare = make_segment(rng, t=3, captions=False)
    pair = Query(kind="pairwise", segments=(with_frames, bare))
    point = Query(kind="pointwise", segments=(make_segment(rng),))
    store.add_queries([pair, point], iteration=2)

    assert_segments_equal(with_frames, store.get_segment(with_frames.key))
    assert_segments_equal(bare, store.get_segment(bare.key))
    got = store.get_query(pair.key)
    assert got.kind == "pairwise" and got.key == pair.key
    for a, b in zip(pair.segments, got.segments, strict=True):
        assert_segments_equal(a, b)
    assert [q.key for q in store.queries_for_iteration(2)] == [pair.key, point.key]
    assert store.queries_for_iteration(0) == []
    with pytest.raises(KeyError):
        store.get_query("nope")
    with pytest.raises(KeyError):
        store.get_segment("nope")


def test_add_queries_idempotent_and_keeps_first_iteration(store: LabelStore) -> None:
    qs = make_queries(4)
    assert store.last_iteration() is None
    store.add_queries(qs[:3], iteration=0)
    store.add_queries(qs, iteration=1)  # three repeats, one new
    assert [q.key for q in store.queries_for_iteration(0)] == [q.key for q in qs[:3]]
    assert [q.key for q in store.queries_for_iteration(1)] == [qs[3].key]
    assert store.last_iteration() == 1
    assert store.has_query(qs[0].key) and not store.has_query("x")
    assert store.stats()["labels/queries"] == 4.0


def test_label_round_trip_keeps_provenance(store: LabelStore) -> None:
    (q,) = make_queries(1)
    store.add_queries([q], 0)
    label = Label(
        query_key=q.key,
        status="ok",
        preference=0.25,
        provenance=Provenance(
            judge_id="j1", model="qwen", prompt_sha="abc", raw_response="B is better ü", swapped=True,
            tokens_in=120, tokens_out=7, cost_usd=0.0013, latency_s=0.8, timestamp=1234.5, is_oracle=False,
            retries=2, error="", transient=False, requests=3,
        ),
    )  # fmt: skip
    pointwise = Label(query_key=q.key, status="ok", value=1.0, provenance=Provenance(judge_id="j2", model="o"))
    store.put_label("j1", label)
    store.put_label("j2", pointwise)
    assert store.cached("j1", [q.key]) == {q.key: label}
    assert store.cached("j2", [q.key]) == {q.key: pointwise}
    assert store.cached("j3", [q.key]) == {}
    ((got_q, got_l),) = store.labelled("j1")
    assert got_q.key == q.key and got_l == label


def test_cached_uses_latest_non_transient(store: LabelStore) -> None:
    qs = make_queries(3)
    store.add_queries(qs, 0)
    ok = make_label(qs[0])
    store.put_label("j1", ok)
    store.put_label("j1", make_label(qs[0], status="failed", transient=True, error="timeout"))
    assert store.cached("j1", [qs[0].key])[qs[0].key] == ok  # a later transient row does not hide it

    store.put_label("j1", make_label(qs[1], status="failed", transient=True, error="timeout"))
    assert store.cached("j1", [qs[1].key]) == {}  # only transient: ask again

    parse_fail = make_label(qs[2], status="failed", raw_response="I cannot decide", error="parse")
    store.put_label("j1", parse_fail)
    assert store.cached("j1", [q.key for q in qs]) == {qs[0].key: ok, qs[2].key: parse_fail}
    assert store.cached("j1", [qs[2].key])[qs[2].key].provenance.raw_response == "I cannot decide"

    newer = make_label(qs[0], status="abstain")
    store.put_label("j1", newer)
    assert store.cached("j1", [qs[0].key])[qs[0].key] == newer


def test_cached_many_keys(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite", fsync=False)  # cheap commits: this test is about chunking
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    keys = [f"q{i}" for i in range(1100)]  # more keys than one IN (...) chunk; queries need not be registered
    for k in keys[::3]:
        store.put_label("j1", Label(k, "ok", Provenance("j1", "m"), value=1.0))
    got = store.cached("j1", keys)
    assert set(got) == set(keys[::3])


def test_labelled_filters_orders_and_dedups(store: LabelStore) -> None:
    qs = make_queries(4)
    store.add_queries(qs, 0)
    store.put_label("j1", make_label(qs[2]))
    store.put_label("j1", make_label(qs[0]))
    store.put_label("j1", make_label(qs[1], status="abstain"))
    store.put_label("j1", make_label(qs[3], status="failed", transient=True))
    store.put_label("j2", make_label(qs[1], judge_id="j2"))
    store.put_label("j1", make_label(qs[2], swapped=True))  # relabelled: counts once, latest wins
    unregistered = Query(kind="pointwise", segments=(qs[0].segments[0],))
    store.put_label("j1", Label(unregistered.key, "ok", Provenance("j1", "m"), value=1.0))

    j1 = store.labelled("j1")
    assert [q.key for q, _ in j1] == [qs[0].key, qs[2].key]
    assert j1[1][1].provenance.swapped
    assert [q.key for q, _ in store.labelled("j1", statuses=("abstain", "failed"))] == [qs[1].key]
    assert [(q.key, lab.provenance.judge_id) for q, lab in store.labelled()] == [
        (qs[0].key, "j1"),
        (qs[1].key, "j2"),
        (qs[2].key, "j1"),
    ]
    assert store.labelled(statuses=()) == []


def test_stats(store: LabelStore) -> None:
    qs = make_queries(4)
    store.add_queries(qs, 0)
    row: dict[str, Any] = {"tokens_in": 100, "tokens_out": 10, "cost_usd": 0.5, "latency_s": 1.0, "retries": 1}
    store.put_label("j1", make_label(qs[0], requests=2, **row))
    store.put_label("j1", make_label(qs[1], status="abstain", tokens_in=50, cost_usd=0.25, latency_s=3.0, requests=1))
    store.put_label("j1", make_label(qs[2], status="failed", transient=True, latency_s=2.0, retries=3, requests=4))
    store.put_label("j2", make_label(qs[3], judge_id="j2", cost_usd=1.0, latency_s=6.0))
    store.put_spending("j1", Spending("content_free_calibration", 1, tokens_in=20, tokens_out=1, cost_usd=0.125))
    s1 = store.stats("j1")
    assert s1 == {
        "labels/total": 3.0,
        "labels/ok": 1.0,
        "labels/abstain": 1.0,
        "labels/failed": 1.0,
        "labels/transient": 1.0,
        "labels/usable": 1.0,
        "labels/queries": 4.0,
        "judge/cost_usd": 0.875,
        "judge/tokens_in": 170.0,
        "judge/tokens_out": 11.0,
        "judge/retries": 4.0,
        "judge/latency_s_mean": 2.0,
        "judge/requests": 8.0,
        "judge/unlabelled_requests": 1.0,
    }
    s = store.stats()
    assert s["labels/total"] == 4.0 and s["labels/ok"] == 2.0 and s["labels/usable"] == 2.0
    assert s["judge/cost_usd"] == pytest.approx(1.875) and s["judge/latency_s_mean"] == pytest.approx(3.0)
    empty = store.stats("nobody")
    assert empty["labels/total"] == 0.0 and empty["judge/latency_s_mean"] == 0.0


def test_put_label_validates(store: LabelStore) -> None:
    (q,) = make_queries(1)
    with pytest.raises(ValueError, match="judge"):
        store.put_label("other", make_label(q))
    with pytest.raises(ValueError, match="status"):
        store.put_label("j1", make_label(q, status="maybe"))
    assert store.stats()["labels/total"] == 0.0


def test_wal_mode_and_two_handles_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    qs = make_queries(6)
    with LabelStore(path) as a, LabelStore(path) as b:
        assert a._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert a._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        a.add_queries(qs[:3], 0)
        b.add_queries(qs, 1)
        for i, q in enumerate(qs):
            (a if i % 2 else b).put_label("j1", make_label(q))
            assert len(a.cached("j1", [q.key])) == 1 and len(b.cached("j1", [q.key])) == 1
        assert a.stats() == b.stats()
        assert a.stats()["labels/ok"] == 6.0
        assert b.get_query(qs[0].key).key == qs[0].key
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    LabelStore(path).close()
    script = textwrap.dedent(
        f"""
        import sys
        from judgerl.labels.store import LabelStore
        from judgerl.types import Label, Provenance
        who = sys.argv[1]
        with LabelStore({str(path)!r}) as s:
            for i in range(40):
                s.put_label(who, Label(f"q{{i}}", "ok", Provenance(who, "m"), value=float(i)))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, who]) for who in ("pa", "pb")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    with LabelStore(path) as s:
        assert s.stats("pa")["labels/ok"] == 40.0 and s.stats("pb")["labels/ok"] == 40.0
        assert len(s.cached("pa", [f"q{i}" for i in range(40)])) == 40
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_rejects_newer_schema_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    LabelStore(path).close()
    with sqlite3.connect(path) as c:
        c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(LabelStoreError, match="upgrade judgerl"):
        LabelStore(path)

    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(LabelStoreError, match="not a usable SQLite"):
        LabelStore(junk)

    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(LabelStoreError, match="not a judgerl label store"):
        LabelStore(foreign)


def test_closed_store_raises(tmp_path: Path) -> None:
    s = LabelStore(tmp_path / "l.sqlite")
    s.close()
    s.close()  # idempotent
    with pytest.raises(LabelStoreError, match="closed"):
        s.stats()


def test_blobs_load_without_pickle(store: LabelStore) -> None:
    seg = make_segment(np.random.default_rng(3), frames=True)
    store.add_queries([Query(kind="pointwise", segments=(seg,))], 0)
    blob = store._db.execute("SELECT blob FROM segments").fetchone()[0]
    import io

    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        assert set(npz.files) == {"obs", "acts", "env_rewards", "dones", "frames", "meta"}
        assert all(npz[f].dtype != object for f in npz.files)


# Schema version 1, as judgerl wrote it before queries belonged to runs and requests were counted.
_V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE segments (
    key TEXT PRIMARY KEY, blob BLOB NOT NULL, length INT NOT NULL, episode_id TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE queries (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, segment_keys TEXT NOT NULL, iteration INT NOT NULL, created REAL NOT NULL
);
CREATE TABLE labels (
    id INTEGER PRIMARY KEY, judge_id TEXT NOT NULL, query_key TEXT NOT NULL, status TEXT NOT NULL,
    preference REAL, value REAL, model TEXT NOT NULL, prompt_sha TEXT NOT NULL, raw_response TEXT NOT NULL,
    swapped INT NOT NULL, tokens_in INT NOT NULL, tokens_out INT NOT NULL, cost_usd REAL NOT NULL,
    latency_s REAL NOT NULL, timestamp REAL NOT NULL, is_oracle INT NOT NULL, retries INT NOT NULL,
    error TEXT NOT NULL, transient INT NOT NULL, created REAL NOT NULL
);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def _v1_label(c: sqlite3.Connection, judge_id: str, key: str, raw: str, retries: int) -> None:
    c.execute(
        "INSERT INTO labels (judge_id, query_key, status, preference, value, model, prompt_sha, raw_response, "
        "swapped, tokens_in, tokens_out, cost_usd, latency_s, timestamp, is_oracle, retries, error, transient, "
        "created) VALUES (?, ?, 'ok', 1.0, NULL, 'm', '', ?, 0, 10, 1, 0.5, 0.1, 0, 0, ?, '', 0, 0)",
        (judge_id, key, raw, retries),
    )


def test_version_1_files_are_upgraded_with_request_counts(tmp_path: Path) -> None:
    """Defects 7 and 8: an old store gains run-owned queries and per-row request counts, once."""
    path = tmp_path / "old.sqlite"
    (q,) = make_queries(1)
    with sqlite3.connect(path) as c:
        c.executescript(_V1_SCHEMA)
        c.execute("INSERT INTO queries VALUES (?, 'pairwise', '[]', 0, 0)", (q.key,))
        _v1_label(c, "openai:m:x", q.key, "A", retries=2)
        _v1_label(c, "both_orders-abc", q.key, "[A,B] A\n[B,A] B", retries=1)
    for _ in range(2):  # opening twice must not count the requests twice
        with LabelStore(path) as s:
            assert s.stats("openai:m:x")["judge/requests"] == 3.0  # 1 + 2 retries
            assert s.stats("both_orders-abc")["judge/requests"] == 3.0  # both orders: 2 + 1 retry
            assert s.cached("openai:m:x", [q.key])[q.key].provenance.requests == 3
            assert s.last_iteration() == 0 and s.last_iteration(run_id="r") is None
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    with LabelStore(path) as s:
        assert s.claim_unowned("r") == 1 and s.claim_unowned("other") == 0
        assert s.last_iteration(run_id="r") == 0 and s.stats(run_id="r")["labels/total"] == 2.0


def keys(qs: list[Query]) -> list[str]:
    return [q.key for q in qs]


def test_queries_belong_to_their_run_and_labels_are_shared(store: LabelStore) -> None:
    """Defect 7: with one store for two runs, each finds only its own queries; labels are shared."""
    qa, qb, shared = make_queries(2, seed=1), make_queries(2, seed=2), make_queries(1, seed=3)
    store.add_queries([*qa, *shared], 0, run_id="a")
    store.add_queries([*shared, *qb], 0, run_id="b")
    store.add_queries(make_queries(1, seed=4), 1, run_id="a")
    assert keys(store.queries_for_iteration(0, run_id="a")) == keys([*qa, *shared])
    assert keys(store.queries_for_iteration(0, run_id="b")) == keys([*shared, *qb])
    assert store.last_iteration(run_id="a") == 1 and store.last_iteration(run_id="b") == 0
    assert store.queries_for_iteration(0, run_id="c") == [] and store.last_iteration(run_id="c") is None
    assert len(store.queries_for_iteration(0)) == 5  # legacy view: every run's
    for q in [*qa, *shared]:
        store.put_label("j", make_label(q, judge_id="j", requests=1), run_id="a")
    store.put_label("j", make_label(qb[0], judge_id="j", requests=2), run_id="b")
    got_b = [lab.query_key for _, lab in store.labelled("j", min_iteration=0, run_id="b")]
    assert got_b == keys([*shared, qb[0]])  # the shared query's label, bought by run a, is b's too
    assert len(store.labelled("j", min_iteration=0)) == 4
    sa, sb = store.stats("j", run_id="a"), store.stats("j", run_id="b")
    assert (sa["labels/total"], sa["judge/requests"], sa["labels/usable"], sa["labels/queries"]) == (3, 3, 3, 4)
    assert (sb["labels/total"], sb["judge/requests"], sb["labels/usable"], sb["labels/queries"]) == (1, 2, 2, 3)

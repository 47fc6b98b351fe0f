"""Config fingerprint: the keys that give a run's stored work its meaning, checked on every resume.

Labels, queries, the reward model and the agent of a run directory were bought
and trained under one configuration. Changing the task, the judge, the feedback
form, the budgets, the seeds or a model's shape between two starts of the same
run would mix two experiments in one directory (or crash on a checkpoint of
another shape). :func:`check_resume` compares the stored ``config.yaml`` with
the new config over :data:`FINGERPRINT_KEYS` and refuses a difference unless
forced; a forced change is appended to ``config_changes.jsonl`` (decision 0013).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from judgerl.checkpoints import atomic_write_text
from judgerl.config import RunConfig, dump_config
from judgerl.configbase import ConfigError
from judgerl.runstate import RunState

FINGERPRINT_KEYS: tuple[str, ...] = (
    "seed",
    "iterations",
    "collect_steps",
    "collect_episodes",
    "task",
    "env.n_envs",
    "query.kind",
    "judge",
    "labels.total",
    "labels.initial_fraction",
    "labels.schedule",
    "labels.store",
    "labels.mode",  # online runs register the agent's own rollouts as queries, blocking runs collected ones
    "reward.model",
    "reward.ensemble_size",
    "reward.hidden_sizes",
    "reward.use_action",
    "reward.activation",
    "reward.mix",
    "reward.classifier",
    "agent.algo",
    "agent.policy",
    "agent.policy_kwargs",
    "agent.hyperparams",
    "agent.init",
    "agent.total_timesteps",
)
"""Dotted key prefixes whose values give stored work its meaning; a prefix covers every key below it.
A prefix the schema does not have (yet) is skipped, so the list can name fields before they exist."""

FINGERPRINT_EXCLUDE: tuple[str, ...] = (
    # How and how fast the judge is reached, and what it may spend: changing these is how a
    # stopped run is continued ("raise judge.budget and run again"), not a new experiment.
    "judge.budget",
    "judge.price",
    "judge.delay_s",
    "judge.preflight_probes",
    "judge.client.base_url",
    "judge.client.api_key_env",
    "judge.client.concurrency",
    "judge.client.timeout_s",
    "judge.client.max_retries",
    "judge.client.rpm",
    "judge.client.tpm",
    "judge.client.backoff_base_s",
    "judge.client.backoff_max_s",
    "judge.client.allow_insecure_http",
    "judge.zero_shot.batch_size",
    "judge.zero_shot.device",
    "judge.gguf.n_threads",
    "judge.gguf.reuse_prefix",
)
"""Keys under a fingerprint prefix that may change freely on resume."""

CHANGES_FILE = "config_changes.jsonl"

_MISSING = "<absent>"


def _covered(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _leaves(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of every non-model field of ``model`` (sub-models are walked, dicts are one value)."""
    out: list[str] = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_leaves(ann, f"{prefix}{name}."))
        else:
            out.append(f"{prefix}{name}")
    return out


def _get(data: Mapping[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _fingerprint_of(dumped: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _leaves(RunConfig):
        if not _covered(key, FINGERPRINT_KEYS) or _covered(key, FINGERPRINT_EXCLUDE):
            continue
        value = _get(dumped, key)
        # A key an older config.yaml lacks had no setting then: its value was the default.
        out[key] = _get(defaults, key) if value is _MISSING else value
    return out


def _defaults() -> dict[str, Any]:
    """Every key's default (what an older config.yaml that lacks a key ran with)."""
    try:
        return RunConfig.model_validate({}).model_dump(mode="json")
    except ValidationError:
        return {}


def fingerprint(cfg: RunConfig) -> dict[str, Any]:
    """The values of ``cfg`` that give stored work its meaning, by dotted key (JSON-ready).

    Args:
        cfg: A validated run config.

    Returns:
        ``{dotted_key: value}`` over every schema field under :data:`FINGERPRINT_KEYS` and not
        under :data:`FINGERPRINT_EXCLUDE`.
    """
    return _fingerprint_of(cfg.model_dump(mode="json"), _defaults())


def stored_fingerprint(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint of a stored ``config.yaml``'s mapping, tolerating an older or newer schema.

    The mapping is validated when it can be (so values compare in their normal form); otherwise
    (a removed or renamed field) its raw values are used, and keys it lacks take today's defaults.
    """
    try:
        dumped: Mapping[str, Any] = RunConfig.model_validate(raw).model_dump(mode="json")
    except ValidationError:
        dumped = raw
    return _fingerprint_of(dumped, _defaults())


def diff_fingerprints(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ: ``{key: (old, new)}`` (a key on one side only counts as a difference)."""
    keys = sorted(set(old) | set(new))
    return {
        k: (old.get(k, _MISSING), new.get(k, _MISSING))
        for k in keys
        if json.dumps(old.get(k, _MISSING), sort_keys=True) != json.dumps(new.get(k, _MISSING), sort_keys=True)
    }


def _read_stored(path: Path) -> Mapping[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        problem = getattr(e, "problem", None) or getattr(e, "strerror", None) or type(e).__name__
        raise ConfigError(
            f"{path} (the config this run was started with) is unreadable ({problem}); restore it, "
            "or pass --force-config to replace it with the current config"
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path} does not hold a mapping; restore it, or pass --force-config to replace it")
    return raw


def check_resume(run_dir: Path, cfg: RunConfig, force: bool = False) -> dict[str, tuple[Any, Any]]:
    """Compare ``cfg`` with the config a run directory was started with; refuse a change unless forced.

    Call it before anything writes ``config.yaml`` (and before any label is bought). A new run
    (no ``config.yaml``), or one whose ``state.json`` shows no progress yet, passes.

    Args:
        run_dir: The run directory.
        cfg: The config about to run.
        force: Accept a change: it is appended to ``<run_dir>/config_changes.jsonl`` and returned.

    Returns:
        The accepted changes (empty when nothing under the fingerprint changed).

    Raises:
        ConfigError: A fingerprint key changed and ``force`` is false; the message lists each key
            as ``old → new`` and names the ways out.
    """
    stored = run_dir / "config.yaml"
    if not stored.exists() or not RunState.load(run_dir).has_progress:
        # Nothing stored yet under the old config (e.g. a start refused by the preflight): free to change.
        return {}
    try:
        changes = diff_fingerprints(stored_fingerprint(_read_stored(stored)), fingerprint(cfg))
    except ConfigError:
        if not force:
            raise
        changes = {"config.yaml": ("<unreadable>", "replaced by the current config")}
    if not changes:
        return {}
    if not force:
        lines = "\n".join(f"  {k}: {old!r} → {new!r}" for k, (old, new) in changes.items())
        raise ConfigError(
            f"run {run_dir} was started with a different configuration; the stored labels, reward model "
            f"and agent belong to the old values:\n{lines}\n"
            "Use a new run name for the new settings, restore the old values, or pass --force-config to "
            f"resume with the new ones anyway (the change is recorded in {run_dir / CHANGES_FILE})"
        )
    _record_changes(run_dir / CHANGES_FILE, changes)
    return changes


def _record_changes(path: Path, changes: Mapping[str, tuple[Any, Any]]) -> None:
    """Append one JSON line ``{time, changes: {key: [old, new]}}`` and make it durable."""
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "changes": {k: [o, n] for k, (o, n) in changes.items()}}
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_run_config(run_dir: Path, cfg: RunConfig) -> None:
    """Write the resolved ``config.yaml`` atomically (only after :func:`check_resume` passed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_config(cfg))

"""Reading configs: YAML files plus ``key=value`` overrides into any pydantic config model.

Split from ``judgerl.config`` (which holds the run's schema): the loading rules and their
one-line errors are shared by ``RunConfig`` and the study's ``StudyConfig``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from judgerl.configbase import ConfigError


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling (`--help-config` lists every key)"
        elif "input" in e and e["type"] not in ("missing",):
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=x"]`` into a nested dict, values parsed as YAML scalars.

    Raises:
        ConfigError: When an override is not of the form ``key=value``.
    """
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. labels.total=100")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override of {p!r}")
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


M = TypeVar("M", bound=BaseModel)


def load_model(model: type[M], path: str | Path | None = None, overrides: list[str] | None = None) -> M:
    """Load a YAML file plus ``key=value`` overrides into any config model (``RunConfig``, ``StudyConfig``...).

    Raises:
        ConfigError: With one line per problem, naming the field and the fix.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(
                f"config file {p} is not a text (UTF-8) YAML file; give the path of a .yaml config"
            ) from None
        except OSError as e:
            raise ConfigError(
                f"config file {p} cannot be read ({e.strerror or e}); give the path of a .yaml file"
            ) from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {p} is not valid YAML: {_yaml_problem(e)}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p} must hold a mapping of keys to values, got {type(loaded).__name__}")
        data = loaded
    if overrides:
        data = _merge(data, parse_overrides(overrides))
        source += " + --set"
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, source)) from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: the problem and where (PyYAML's own message spans several lines)."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(problem)


def dump_config(cfg: BaseModel) -> str:
    """The resolved config as YAML (every field, defaults included)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)

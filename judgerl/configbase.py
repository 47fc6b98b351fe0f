"""The base of every config model and the error type for user mistakes in configs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """A user error in a configuration: message names the field and the fix."""


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

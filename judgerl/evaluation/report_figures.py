"""The report's figures, drawn with matplotlib from stored metrics and returned as inline data URIs.

Every function takes what the run stored (``metrics.jsonl`` records,
``eval.json``, ``landscape.json``, stored frames) and draws it; none computes a
new result. Images are PNG (figures, thumbnails) or the stored GIF bytes, each
a ``data:`` URI so ``report.html`` is one self-contained file.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

_STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig_uri(fig: Any) -> str:
    """Encode a matplotlib figure as a PNG ``data:`` URI and close it."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def file_uri(path: Path, mime: str = "image/gif") -> str:
    """A stored file (a GIF) as a ``data:`` URI."""
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def thumb_uri(frame: np.ndarray, width: int = 112) -> str:
    """One stored frame ``(H, W, 3)`` uint8, downscaled to ``width`` pixels, as a PNG ``data:`` URI."""
    from PIL import Image

    img = Image.fromarray(np.asarray(frame)[..., :3].astype(np.uint8))
    height = max(1, round(img.height * width / max(img.width, 1)))
    buf = io.BytesIO()
    img.resize((width, height), Image.Resampling.LANCZOS).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _series(rows: list[dict[str, Any]], x_key: str, key: str) -> tuple[list[float], list[float]]:
    pts = [(float(r[x_key]), float(r[key])) for r in rows if key in r and x_key in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def reward_curves(records: list[dict[str, Any]]) -> str | None:
    """Per fit (stage ``reward``): train/val loss, and train/val accuracy with the correlation to true returns."""
    rows = [r for r in records if r.get("stage") == "reward"]
    if not rows:
        return None
    plt = _plt()
    with plt.rc_context(_STYLE):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 2.8))
        for key, style in (("reward/train_loss", "o-"), ("reward/val_loss", "s--")):
            xs, ys = _series(rows, "step", key)
            if xs:
                ax1.plot(xs, ys, style, label=key.split("/")[1])
        ax1.set(xlabel="iteration", ylabel="loss (nats / pair)", title="reward model loss")
        keys = ("reward/train_accuracy", "reward/val_accuracy", "reward/val_true_corr", "reward/val_accuracy_truth")
        for key, style in zip(keys, ("o-", "s--", "^:", "d-."), strict=True):
            xs, ys = _series(rows, "step", key)
            if xs:
                ax2.plot(xs, ys, style, label=key.split("/")[1])
        ax2.set(xlabel="iteration", title="held-out accuracy and Spearman ρ to true return")
        for ax in (ax1, ax2):
            if ax.lines:
                ax.legend(fontsize=7, frameon=False)
            ax.xaxis.get_major_locator().set_params(integer=True)
        return fig_uri(fig)


def return_curves(records: list[dict[str, Any]], ev: dict[str, Any]) -> str | None:
    """True return (evaluation and training episodes) and learned return per iteration, env steps on x."""
    rows = [r for r in records if r.get("stage") == "iteration"]
    if not rows:
        return None
    x_key = "agent/env_steps" if all("agent/env_steps" in r for r in rows) else "step"
    plt = _plt()
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(8.4, 3.2))
        xs, mean = _series(rows, x_key, "eval/return_mean")
        if xs:
            _, std = _series(rows, x_key, "eval/return_std")
            m, s = np.asarray(mean), np.asarray(std) if len(std) == len(mean) else np.zeros(len(mean))
            ax.plot(xs, m, "o-", color="C0", label="true return, evaluation (mean ± std)")
            ax.fill_between(xs, m - s, m + s, color="C0", alpha=0.15)
        xs, ys = _series(rows, x_key, "agent/true_return")
        if xs:
            ax.plot(xs, ys, "s--", color="C1", label="true return, training episodes")
        if ev.get("eval/return_mean") is not None and x_key in rows[-1]:
            # The final evaluation (its own start states, eval.episodes episodes) beside the last iteration's.
            final = (float(rows[-1][x_key]), float(ev["eval/return_mean"]), float(ev.get("eval/return_std") or 0.0))
            ax.errorbar(*final[:2], yerr=final[2], fmt="D", color="k", capsize=4, label="final agent, final evaluation")
        for key, label, color in (
            ("eval/random/return_mean", "random policy", "0.5"),
            ("eval/true_reward/return_mean", "trained on the true reward", "C2"),
        ):
            if ev.get(key) is not None:
                ax.axhline(float(ev[key]), ls=":", color=color, label=f"{label} (final)")
        ax.set(xlabel="agent env steps" if x_key != "step" else "iteration", ylabel="true return")
        xs, ys = _series(rows, x_key, "agent/learned_return")
        handles, labels = ax.get_legend_handles_labels()
        if xs:
            ax2 = ax.twinx()
            ax2.plot(xs, ys, "^-.", color="C4")
            ax2.set_ylabel("learned return (training episodes)", color="C4")
            ax2.tick_params(axis="y", colors="C4")
            ax2.grid(False)
            handles += ax2.lines
            labels += ["learned return, training episodes (right axis)"]
        ax.legend(handles, labels, fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        ax.set_title("return over training", fontsize=9)
        return fig_uri(fig)


def landscape_figure(data: dict[str, Any]) -> str:
    """The learned reward next to the true reward on the stored grid (``landscape.json``)."""
    plt = _plt()
    extent = (data["x"][0], data["x"][-1], data["y"][0], data["y"][-1])
    with plt.rc_context({**_STYLE, "axes.grid": False}):
        fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.3))
        for ax, key, title in ((axes[0], "learned", "final reward model r̂"), (axes[1], "true", "true reward")):
            img = ax.imshow(np.asarray(data[key]), origin="lower", aspect="auto", extent=extent, cmap="viridis")
            ax.set(xlabel=data["x_name"], ylabel=data["y_name"], title=title)
            fig.colorbar(img, ax=ax, fraction=0.046, pad=0.03)
        fig.tight_layout()
        return fig_uri(fig)


def calibration_figure(bins: list[tuple[float, float, float]], probability: bool) -> str | None:
    """Judge value per bin against the oracle's rate there (``judge/calib_*`` of the last judge record).

    Args:
        bins: ``(mean judge value, oracle rate, count)`` per bin.
        probability: Values are probabilities/preferences (draw the diagonal of a calibrated judge).
    """
    if not bins:
        return None
    plt = _plt()
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(3.6, 3.0))
        pred, rate, n = (np.asarray(c) for c in zip(*bins, strict=True))
        if probability:
            ax.plot([0, 1], [0, 1], ":", color="0.5", label="calibrated")
            ax.set_xlim(-0.02, 1.02)
        ax.plot(pred, rate, "o-", color="C0", label="judge")
        for x, y, k in zip(pred, rate, n, strict=True):
            ax.annotate(f"{int(k)}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color="0.4")
        ax.set_ylim(-0.02, 1.02)
        ax.set(
            xlabel="judge's answer (bin mean)" + ("" if probability else ", raw score"),
            ylabel="oracle says first / yes (share)",
            title="calibration against the oracle",
        )
        ax.legend(fontsize=7, frameon=False)
        return fig_uri(fig)

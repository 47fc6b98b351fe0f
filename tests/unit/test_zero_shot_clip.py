# mypy: disable-error-code="call-arg"
"""ClipJudge on a tiny random CLIP model saved in tmp_path (no weights ship in any package)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from judgerl.config import ZeroShotConfig
from judgerl.judges.zero_shot import ClipJudge
from judgerl.testing.optional import importorskip
from judgerl.types import Query, Segment, TaskSpec

transformers = importorskip("transformers", "clip")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random CLIP (32x32 images, 8x8 patches) and a character-level tokenizer."""
    from judgerl.testing.tiny_clip import save_random_clip

    torch.set_num_threads(1)
    return save_random_clip(tmp_path_factory.mktemp("tinyclip"))


def _task() -> TaskSpec:
    return TaskSpec(
        id="test/clip",
        instruction="stand up",
        env_id="Pendulum-v1",
        captioner=lambda o: "",
        success=lambda r, o: r > 0,
        goal_text="a robot standing",
        baseline_text="a robot",
    )


def _frames(n: int, seed: int, h: int = 40, w: int = 56) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_clip_projection_matches_hand_computation(tiny_clip: Path, alpha: float) -> None:
    judge = ClipJudge(ZeroShotConfig(model=str(tiny_clip), alpha=alpha, batch_size=3), _task())
    frames = _frames(5, seed=1)
    scores = judge.score_frames(frames)
    assert scores.shape == (5,) and scores.dtype == np.float32

    # Hand computation from the model's raw features, independent of judgerl's math.
    model = transformers.CLIPModel.from_pretrained(tiny_clip).eval()
    tok = transformers.AutoTokenizer.from_pretrained(tiny_clip)
    with torch.inference_mode():
        t = tok(["a robot standing", "a robot"], padding=True, return_tensors="pt")
        txt = model.get_text_features(input_ids=t["input_ids"], attention_mask=t["attention_mask"])
        txt = getattr(txt, "pooler_output", txt).numpy().astype(np.float64)
    img = judge.encoder.encode_frames(frames).astype(np.float64)
    g, b = txt[0] / np.linalg.norm(txt[0]), txt[1] / np.linalg.norm(txt[1])
    d = (g - b) / np.linalg.norm(g - b)
    for i, x in enumerate(img):
        x = x / np.linalg.norm(x)
        v = x - g
        along = d * float(d @ v)  # projection of v on the goal-baseline line
        pv = alpha * along + (1 - alpha) * v
        assert scores[i] == pytest.approx(1.0 - 0.5 * float(pv @ pv), abs=1e-5)
    if alpha == 0.0:  # plain cosine similarity
        np.testing.assert_allclose(scores, img @ g / np.linalg.norm(img, axis=1), atol=1e-5)


def test_clip_preprocessing_matches_transformers_pil_processor(tiny_clip: Path) -> None:
    from judgerl.judges.zero_shot_encoders import clip_preprocess

    proc_cls = getattr(transformers, "CLIPImageProcessorPil", None)
    if proc_cls is None:
        pytest.skip("this transformers has no PIL CLIP image processor to compare with")
    proc = proc_cls(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    for h, w in [(40, 56), (64, 48), (100, 37), (32, 32)]:
        frames = _frames(2, seed=h, h=h, w=w)
        ref = proc(list(frames), return_tensors="np")["pixel_values"]
        ours = clip_preprocess(frames, 32)
        assert ours.shape == ref.shape == (2, 3, 32, 32)
        np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_clip_judge_labels_segments(tiny_clip: Path) -> None:
    judge = ClipJudge(ZeroShotConfig(model=str(tiny_clip), alpha=0.5), _task())
    fa, fb = _frames(3, seed=3), _frames(3, seed=4)
    z = np.zeros(3, np.float32)

    def seg(frames: np.ndarray) -> Segment:
        return Segment(
            obs=np.zeros((3, 1), np.float32), acts=np.zeros((3, 1), np.float32), env_rewards=z, dones=z, frames=frames
        )

    sa, sb = seg(fa), seg(fb)
    labels = judge.judge(_task(), [Query("pointwise", (sa,)), Query("pairwise", (sa, sb))])
    ma, mb = float(np.mean(judge.score_frames(fa))), float(np.mean(judge.score_frames(fb)))
    assert labels[0].status == "ok" and labels[0].value == pytest.approx(ma, abs=1e-6)
    assert labels[1].preference == (1.0 if ma > mb else 0.0)
    assert labels[1].provenance.model == str(tiny_clip)

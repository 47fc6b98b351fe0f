# mypy: disable-error-code="call-arg"
"""A REAL llama.cpp server (``python -m llama_cpp.server``) with the packaged SmolLM2-135M on 127.0.0.1.

Checks that judgerl's OpenAI-compatible client talks to it: plain chat, log-probs
for yes/no scoring, a ChatJudge pointwise label, and what happens to images
sent to this text-only model. Skipped when llama-cpp-python's server extra or
the packaged GGUF is missing (``scripts/build_llama_wheel.sh`` installs both).
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from judgerl.testing.optional import importorskip, skip_missing
from judgerl.types import Query, Segment, TaskSpec

importorskip("llama_cpp", "gguf")
for _mod in ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings"):
    importorskip(_mod, "gguf")  # llama_cpp.server's dependencies, which `make gguf` installs

TINY_PNG = (  # a 1x1 PNG
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
TASK = TaskSpec(
    id="test/cat",
    instruction="Deliver the parcel without harming the cat.",
    env_id="CartPole-v1",
    captioner=lambda o: "",
    success=lambda r, o: True,
    modalities=("captions", "frames"),
    question="Is the cat crushed?",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the server, wait for /v1/models, yield its base URL, kill it."""
    from judgerl.judges.embedded import PackagedModelMissing, packaged_smollm2_path

    try:
        model = packaged_smollm2_path()
    except PackagedModelMissing as e:
        skip_missing(str(e))
    port = _free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port),
        "--chat_format", "chatml", "--n_ctx", "512", "--n_threads", "1", "--n_threads_batch", "1",
        "--logits_all", "True",  # chat completions return log-probs only with logits_all
    ]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    log = log_path.open("wb")  # a file, not a pipe: a full pipe would block the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                out = log_path.read_text(errors="replace")
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{out[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                out = log_path.read_text(errors="replace")
                pytest.fail(f"llama_cpp.server did not answer /v1/models within 30 s:\n{out[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()


def _client_cfg(base: str) -> Any:
    from judgerl.config import ClientConfig

    return ClientConfig(base_url=base, model="smollm2", max_tokens=4, timeout_s=30, max_retries=0, concurrency=1)


def _chat(base: str, messages: list[dict[str, Any]], **kw: Any) -> Any:
    from judgerl.judges.client import ChatClient

    async def go() -> Any:
        async with ChatClient(_client_cfg(base)) as client:
            return await client.chat(messages, **kw)

    return asyncio.run(go())


def test_chat_completion_returns_text(server: str) -> None:
    res = _chat(server, [{"role": "user", "content": "Say hello."}])
    assert res.ok, res.error
    assert res.text.strip() and res.tokens_in > 0 and res.tokens_out > 0


def test_logprobs_score_yes_no(server: str) -> None:
    from judgerl.judges.llm_parse import yes_no_margin

    msgs = [{"role": "user", "content": "Is the sky blue on a clear day? Answer yes or no."}]
    res = _chat(server, msgs, logprobs=True, top_logprobs=5)
    assert res.ok, res.error
    assert res.logprobs and len(res.logprobs[0].top) == 5
    assert all(lp <= 0.0 for _, lp in res.logprobs[0].top)
    margin = yes_no_margin(res.logprobs)
    assert margin is not None and math.isfinite(margin)


def test_chat_judge_pointwise_label(server: str) -> None:
    from judgerl.judges.llm import ChatJudge
    from judgerl.judges.llm_prompts import View

    z = np.zeros(3, np.float32)
    seg = Segment(
        obs=np.zeros((3, 1), np.float32),
        acts=np.zeros((3, 1), np.float32),
        env_rewards=z,
        dones=z,
        captions=("the cat is crushed under the robot's wheel",) * 3,
    )
    judge = ChatJudge(_client_cfg(server), form="pointwise", view=View(show="captions"))
    [label] = judge.judge(TASK, [Query("pointwise", (seg,))])
    assert label.status == "ok", label.provenance
    assert label.value is not None and math.isfinite(label.value)
    assert label.provenance.error == ""  # a log-prob margin, not the text fallback
    assert label.provenance.tokens_in > 50


def test_images_to_a_text_only_model(server: str) -> None:
    """The chatml server does not reject image parts: it drops the whole list-form content.

    The HTTP call succeeds, but the model saw an empty user turn (fewer prompt
    tokens than the text alone). judgerl's local GGUFJudge therefore refuses
    frames before any call, and a ChatJudge shown frames through this server
    does not produce an ``ok`` label (its raw answer is kept).
    """
    from judgerl.config import GGUFConfig
    from judgerl.judges.gguf import GGUFJudge
    from judgerl.judges.llm import ChatJudge
    from judgerl.judges.llm_prompts import View

    text = "Describe the picture in one sentence."
    only_text = _chat(server, [{"role": "user", "content": text}])
    with_image = _chat(
        server,
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": TINY_PNG}}],
            }
        ],
    )
    assert only_text.ok and with_image.ok
    assert with_image.tokens_in < only_text.tokens_in  # the content was silently dropped

    with pytest.raises(ValueError, match="cannot judge frames"):
        GGUFJudge(GGUFConfig(), TASK, modality="frames")

    z = np.zeros(2, np.float32)
    seg = Segment(
        obs=np.zeros((2, 1), np.float32),
        acts=np.zeros((2, 1), np.float32),
        env_rewards=z,
        dones=z,
        frames=np.zeros((2, 16, 16, 3), np.uint8),
    )
    judge = ChatJudge(_client_cfg(server), form="pointwise", view=View(show="frames"))
    [label] = judge.judge(TASK, [Query("pointwise", (seg,))])
    assert label.status != "ok"
    assert label.provenance.error


def test_text_only_client_refuses_frames_before_any_call(server: str) -> None:
    """With ``judge.client.vision=false`` judgerl never sends frames: a clear failed label, no request paid."""
    from judgerl.judges.llm import ChatJudge
    from judgerl.judges.llm_prompts import View

    z = np.zeros(2, np.float32)
    seg = Segment(
        obs=np.zeros((2, 1), np.float32),
        acts=np.zeros((2, 1), np.float32),
        env_rewards=z,
        dones=z,
        frames=np.zeros((2, 16, 16, 3), np.uint8),
    )
    cfg = _client_cfg(server).model_copy(update={"vision": False})
    judge = ChatJudge(cfg, form="pointwise", view=View(show="frames"))
    [label] = judge.judge(TASK, [Query("pointwise", (seg,))])
    assert label.status == "failed"
    assert "text-only" in label.provenance.error and "judge.client.vision" in label.provenance.error
    assert judge.metrics().get("judge/http_requests", 0) == 0

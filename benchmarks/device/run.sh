#!/usr/bin/env bash
# One device run of the real-size benchmarks (random weights of the published shapes); figures under $OUT.
#   bash benchmarks/device/run.sh a     # stage 1, stage 2, training (models built in memory)
#   bash benchmarks/device/run.sh b     # a whole request and long videos (the published-shape kit, built once)
#   SMOKE=1 bash benchmarks/device/run.sh a|b   # this script on a CPU: one layer per stack, tiny sizes
# On the device: carry [".whl"] (benchmarks/device/fetch_wheels.sh makes it); each part is sized to end well inside
# one 10-minute call. Each benchmark's output goes to $OUT/<name>.txt with its exit status on the last line.
set -u
part=${1:?"say which part: a or b"}
OUT=${OUT:-/tmp/unison-bench}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
PY=${PY:-python3}
bench() {  # bench NAME SECONDS SCRIPT ARGS...
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit} s): $*"
  timeout "$limit" "$PY" "$@" >"$OUT/$name.txt" 2>&1
  echo "rc=$?" >>"$OUT/$name.txt"
  tail -n 8 "$OUT/$name.txt"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"; date -u; } \
  >"$OUT/device.txt"
if [ "${SMOKE:-0}" = 1 ]; then
  case $part in
    a)
      bench stage1 300 benchmarks/bench_stage1.py --real-size --device cpu --num-layers 1 --vision-depth 1 --repeat 1 \
        --max-new-tokens 4 --plan-tokens 4
      bench stage2 300 benchmarks/bench_stage2.py --real-size --device cpu --num-layers 2 --size 64x64x5 --steps 1 \
        --no-compile --offload none
      bench train 300 benchmarks/bench_train.py --real-size --smoke --device cpu --steps 2
      ;;
    b)
      bench request 300 benchmarks/bench_request.py --depth 1 --device cpu --size 64x64x5 --steps 1 --plan-tokens 4
      bench long 300 benchmarks/bench_long.py --real-size --depth 1 --device cpu --size 64x64 --window-frames 13 \
        --window-overlap 5 --steps 1 --windows 1,2 --json
      ;;
  esac
else
  case $part in
    a)
      bench stage1 150 benchmarks/bench_stage1.py --real-size
      bench stage2 200 benchmarks/bench_stage2.py --real-size --offload none  # the other offload modes: a later call
      bench train 150 benchmarks/bench_train.py --real-size
      ;;
    b)
      bench request 280 benchmarks/bench_request.py --depth full --size 832x480x81 --steps 10
      bench long 250 benchmarks/bench_long.py --real-size --depth full --steps 5 --windows 1,2,4 --json
      ;;
  esac
fi
ls -la "$OUT"

#!/usr/bin/env bash
# One device session's checks: the numbers the GPU presets are measured by --
# hope-760m at 2 x 4096 in bf16 (first-step time, tokens/s, MFU, peak memory) at the schedules
# most likely to run well, the large-chunk variant, and `nlc train` + `nlc generate` on CUDA.
#
# A device session has 15 minutes in all (a machine's start, 1-2 min, included) and 10 per
# command, so the script keeps to BUDGET seconds (default 300: a rerun still fits) and runs the
# most informative check first; a section that no longer fits is skipped with a line saying so
# (FUSED=1 and STEP=1 add two more, for a raised BUDGET). Each bench row runs in a fresh
# process and prints its first-step time as soon as it has one, so a cut run still says how far
# it got. Logs and JSON go to $OUT (or ./gpu-out).
#
#   device run:  bash bench/gpu_check.sh            (timeout_s 360; carry .whl, see below)
#   here, first: make gpu-wheels                    (pydantic is not on the device's python3)
#                DRY=1 bash bench/gpu_check.sh      (the same commands on CPU at toy shapes)
#
# FLOPs for MFU are counted on the meta device here (bench/bench_launches.py, 2 x 4096, fused
# schedule): hope-760m 10.70 GFLOP/token, hope-760m-large-chunk 14.11 (its sliding-window
# attention): an eager step of these on a GPU is too slow to count them there.
set -u
OUT=${OUT:-gpu-out}
BUDGET=${BUDGET:-300}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:$PWD/runtime PYTHONUNBUFFERED=1
if ! python3 -c "import pydantic" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    export PYTHONPATH=$PYTHONPATH:/tmp/site
fi

if [ "${DRY:-0}" = 1 ]; then  # the plumbing on CPU: toy shapes, the demo presets
    DEVICE=cpu SHAPE=1x64 STEPS=1 BIG=specs/hope.yaml LARGE=specs/hope-large-chunk.yaml
    TRAIN_STEPS=2 BATCH=2 WAVE=wavefront  # the wave compiles for 140 s on 2 CPU cores
    echo "DRY run on CPU" | tee "$OUT/gpu.txt"
else
    DEVICE=cuda SHAPE=${SHAPE:-2x4096} STEPS=${STEPS:-2} BIG=specs/hope-760m.yaml
    LARGE=specs/hope-760m-large-chunk.yaml TRAIN_STEPS=${TRAIN_STEPS:-30} BATCH=16
    WAVE=wavefront-chunks
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
        | tee "$OUT/gpu.txt"
fi
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/gpu.txt"

# section NAME SECONDS COMMAND...: COMMAND under a timeout of SECONDS, or of what is left of
# the budget if that is less; skipped when under 30 s are left
section() {
    local name=$1 limit=$2 left=$((BUDGET - SECONDS))
    shift 2
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 30 ]; then
        echo "== $name: skipped ($left s of the budget left)" | tee -a "$OUT/skipped.txt"
        return
    fi
    echo "== $name (at most $limit s; $SECONDS s used)"
    timeout "$limit" bash -c '"$@"' _ "$@"  # the functions below, exported: timeout runs bash
}

bench() {  # bench SPEC MODES FLOPS NAME: bench_train rows (bf16 autocast, checkpointing)
    python3 bench/bench_train.py --specs "$1" --modes "$2" --device "$DEVICE" --shape "$SHAPE" \
        --steps "$STEPS" --recompute --flops-per-token "$3" --json "$OUT/$4.json" 2>&1 \
        | tee "$OUT/$4.log"
}

train() {  # what a user runs: nlc train (bf16, fused AdamW, compiled), then generation
    python3 -m nlc train specs/hope.yaml --out /tmp/run-hope --device "$DEVICE" \
        --steps "$TRAIN_STEPS" --batch-size "$BATCH" --context 256 --lr 3e-3 --warmup 10 \
        --eval-every 20 --eval-iters 2 2>&1 | tee "$OUT/train_hope.log" | tail -n 8
    cp /tmp/run-hope/summary.json "$OUT/train_hope_summary.json" 2>/dev/null
    python3 -m nlc generate /tmp/run-hope --prompt "ROMEO:" --tokens 80 --device "$DEVICE" \
        2>&1 | tail -n 4
}
export -f bench train
export DEVICE SHAPE STEPS TRAIN_STEPS BATCH OUT

# 1. The large-chunk variant (memories every 256 / 512 tokens beside a 512-token window):
#    384 chunk steps in sequence per 2 x 4096 step; the target is >= 50% MFU of it.
section "1. hope-760m-large-chunk, chunk kernels compiled" 100 \
    bench "$LARGE" chunks 14.11e9 bench_large
# 2. hope-760m (main memories every 16 tokens, projections every 4) as a wavefront: 24 blocks
#    overlapped, 348 chunk steps in sequence instead of 6,144, the wave compiled once.
#    Targets: first step <= 60 s, MFU >= 20%.
section "2. hope-760m wavefront, the wave compiled" 130 \
    bench "$BIG" "$WAVE" 10.70e9 bench_760m_wave
section "3. nlc train + generate on the demo HOPE" 60 train
# 4. (FUSED=1, with BUDGET raised) hope-760m fused, the chunk kernels compiled (the CPU
#    default): 6,144 chunk steps in sequence; what the wavefront is measured against.
if [ "${FUSED:-0}" = 1 ]; then
    section "4. hope-760m fused, chunk kernels compiled" 120 \
        bench "$BIG" chunks 10.70e9 bench_760m_chunks
fi
# 5. (STEP=1, with BUDGET raised) hope-760m as `nlc train` runs it on CUDA (--compile-mode
#    step): the plain nest, each block's per-segment step compiled once for all 24 layers.
if [ "${STEP:-0}" = 1 ]; then
    section "5. hope-760m plain nest, the step compiled per block" 120 \
        bench "$BIG" compiled 10.70e9 bench_760m_step
fi
echo "== done in $SECONDS s (budget $BUDGET s)"

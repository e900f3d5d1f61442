#!/usr/bin/env bash
# One device session's checks (see ../.library/device): CUDA + bf16 + torch.compile training of
# the emitted HOPE through `nlc train`, then tokens/s, peak memory and MFU of the ~760M HOPE.
# Run from the repository root on the GPU machine; logs go to $OUT (or ./gpu-out).
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD:$PWD/runtime PYTHONUNBUFFERED=1
if ! python3 -c "import pydantic" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/gpu.txt"

echo "== 1. nlc train specs/hope.yaml on CUDA (bf16 autocast, fused AdamW, compiled segment step)"
timeout "${T1:-200}" python3 -m nlc train specs/hope.yaml --out /tmp/run-hope --steps "${STEPS1:-60}" \
    --batch-size 16 --context 256 --lr 3e-3 --warmup 10 --eval-every 20 --eval-iters 2 \
    2>&1 | tee "$OUT/train_hope.log" | tail -n 8
cp /tmp/run-hope/summary.json "$OUT/train_hope_summary.json" 2>/dev/null
python3 -m nlc generate /tmp/run-hope --prompt "ROMEO:" --tokens 80 --device cuda 2>&1 | tail -n 4

# The loop nest is launch-bound (24 layers x 256 segments per 4K sequence under the plain
# schedule): a larger batch adds work, not launches. `compiled` = what train.py --compile does
# on CUDA (the plain nest's per-segment step compiled once, replayed); `chunks` = the fused
# schedule with the memories' chunk kernels compiled (the CPU default); `graphs` = the step as
# CUDA graphs (a self-modifying chunk's pending tokens give the step a few shapes).
# Memory: backprop through one layer's chunk loop keeps ~12 GiB per sequence of 4K (fp32 states),
# so 2 x 4096 fits an H100 with --recompute.
# FLOPS: counted once on the meta device at 1 x 4096 (FlopCounterMode, 285 s on CPU): 12.51
# GFLOP/token; it depends on the context (10.79 at 512), so change it with SHAPE's context.
echo "== 2. hope-760m: compiled segment step, then compiled chunk kernels; bf16, checkpointing"
timeout "${T2:-330}" python3 bench/bench_train.py --specs specs/hope-760m.yaml --device cuda \
    --shape "${SHAPE:-2x4096}" --steps "${STEPS2:-2}" --recompute \
    --modes "${MODES:-compiled,chunks}" --flops-per-token "${FLOPS:-12.51e9}" \
    --json "$OUT/bench_760m.json" 2>&1 | tee "$OUT/bench_760m.log"

# The same at the wavefront schedule (24 blocks overlapped: 256 + 23 waves of 4 chunk steps
# instead of 24 x 256 chunk steps in sequence, bench/bench_launches.py), and the large-chunk
# variant (memories every 256 / 512 tokens beside a 512-token sliding window).
echo "== 3. hope-760m wavefront; hope-760m-large-chunk"
timeout "${T3:-240}" python3 bench/bench_train.py --specs specs/hope-760m.yaml --device cuda \
    --shape "${SHAPE:-2x4096}" --steps "${STEPS2:-2}" --recompute \
    --modes "${MODES3:-wavefront,wavefront-chunks}" --flops-per-token "${FLOPS:-12.51e9}" \
    --json "$OUT/bench_760m_wave.json" 2>&1 | tee "$OUT/bench_760m_wave.log"
timeout "${T4:-240}" python3 bench/bench_train.py --specs specs/hope-760m-large-chunk.yaml \
    --device cuda --shape "${SHAPE:-2x4096}" --steps "${STEPS2:-2}" --recompute \
    --modes "${MODES4:-eager,chunks}" --json "$OUT/bench_760m_large.json" 2>&1 \
    | tee "$OUT/bench_760m_large.log"

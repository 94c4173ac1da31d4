#!/usr/bin/env bash
# GPU readiness check, one table at the end (about 10 minutes on one GPU):
#   1. parity tests on CUDA, strict float32 (TF32 off; fixtures within 1e-4)
#   2. benchmark, batch 128, channels-last: FAN-T/S/B-Hybrid-token vs timm
#      ConvNeXt-T/S/B and DeiT-S/B in fp16 autocast; FAN-S vs ConvNeXt-T in
#      bf16; FAN-S vs ConvNeXt-T compiled (torch.compile, inductor) in fp16
#   3. the demo STL: a short phase 1 (the teacher) and 50 iterations of
#      phase 2 with the fp16 teacher, through tools/train.py
#
# Usage: tools/gpu_check.sh [--out DIR] [--device cuda|cpu] [--dry-run]
#                           [--batch-size N] [--skip STAGE ...]
# Python: $PYTHON if set, else tools/setup_env.sh (idempotent) and .venv.
# --device cpu runs the same stages on the CPU (tiny settings: for testing
# this script); --dry-run prints the stages' commands and runs nothing.
# Every stage has its own time limit; the table shows TIMEOUT for one that
# ran out and the script still prints the others.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 2; }

OUT=work_dirs/gpu_check
DEVICE=cuda
DRY=0
BATCH=
SKIP=" "
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a folder"; OUT=$2; shift 2 ;;
    --device) [ $# -ge 2 ] || die "--device needs cuda or cpu"
      case "$2" in cuda|cpu) DEVICE=$2 ;; *) die "--device must be cuda or cpu, got '$2'" ;; esac
      shift 2 ;;
    --batch-size) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--batch-size needs a positive integer"
      BATCH=$2; shift 2 ;;
    --skip) [ $# -ge 2 ] || die "--skip needs a stage: parity, bench, demo"
      case "$2" in parity|bench|demo) SKIP="$SKIP$2 " ;; *) die "--skip takes parity, bench or demo, got '$2'" ;; esac
      shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ "$DRY" = 1 ]; then
  PY=.venv/bin/python
else
  bash tools/setup_env.sh || die "tools/setup_env.sh failed; set PYTHON to a ready interpreter"
  PY=$ROOT/.venv/bin/python
fi
if [ "$DRY" = 0 ]; then
  "$PY" -c 'import stl_mm, timm' 2>/dev/null \
    || die "$PY cannot import stl_mm and timm (pip install -e . -r requirements/bench.txt, or set PYTHON)"
  if [ "$DEVICE" = cuda ]; then
    "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' \
      || die "torch sees no CUDA GPU ($PY); use --device cpu to test the script"
  fi
fi

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export STL_MM_FIXTURES=${STL_MM_FIXTURES:-$ROOT/../shared/fixtures/official}
mkdir -p "$OUT"
STAGES="$OUT/stages.tsv"
: > "$STAGES"

if [ "$DEVICE" = cuda ]; then
  B=${BATCH:-128}; IMG=224; ITERS=10; WARM=3; THREADS=()
  FAN_T=fan_tiny_8_p4_hybrid_token; FAN_S=fan_small_12_p4_hybrid_token
  FAN_B=fan_base_16_p4_hybrid_token
  PEERS_ALL=(timm:convnext_tiny timm:convnext_small timm:convnext_base
             timm:deit_small_patch16_224 timm:deit_base_patch16_224)
  MODELS_ALL=("$FAN_T" "$FAN_S" "$FAN_B")
  PAIR_PEER=(timm:convnext_tiny); PAIR_MODEL=("$FAN_S")
  DEMO_ITERS=50; DEMO_WORKERS=4
  LIMIT_PARITY=150; LIMIT_BENCH=200; LIMIT_BF16=70; LIMIT_COMPILE=200
  LIMIT_DEMO=150
else  # tiny settings: the script's own test on a CPU machine
  B=${BATCH:-2}; IMG=32; ITERS=1; WARM=1; THREADS=(--threads 1)
  DEMO_CFG_TINY=configs/stl/demo/fan_demo_token_labeler.py
  PEERS_ALL=(timm:convnext_tiny); MODELS_ALL=("$DEMO_CFG_TINY")
  PAIR_PEER=(timm:convnext_tiny); PAIR_MODEL=("$DEMO_CFG_TINY")
  DEMO_ITERS=2; DEMO_WORKERS=0
  LIMIT_PARITY=600; LIMIT_BENCH=900; LIMIT_BF16=900; LIMIT_COMPILE=900
  LIMIT_DEMO=900
fi
BENCH=(tools/benchmark.py --device "$DEVICE" --batch-size "$B" --img-size "$IMG"
       --iters "$ITERS" --warmup "$WARM" --channels-last "${THREADS[@]}")

# stage NAME LIMIT_S KIND REPORT_PATH -- COMMAND...
stage() {
  local name=$1 limit=$2 kind=$3 report=$4; shift 5
  echo "== $name: $*" >&2
  if [ "$DRY" = 1 ]; then return; fi
  local start=$SECONDS status=0
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1 || status=$?
  tail -n 3 "$OUT/$name.log" >&2
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - start))" \
    "$kind" "$report" >> "$STAGES"
}

if [[ "$SKIP" != *" parity "* ]]; then
  stage parity "$LIMIT_PARITY" pytest "$OUT/parity.xml" -- \
    env NVIDIA_TF32_OVERRIDE=0 "$PY" -m pytest -q -p no:cacheprovider \
    tests/models/test_fan_backbone.py tests/models/test_train_parity.py \
    -k "$DEVICE" --junitxml "$OUT/parity.xml"
fi

if [[ "$SKIP" != *" bench "* ]]; then
  stage bench_fp16 "$LIMIT_BENCH" bench "$OUT/bench_fp16.json" -- \
    "$PY" "${BENCH[@]}" --amp fp16 --peers "${PEERS_ALL[@]}" \
    "${MODELS_ALL[@]}" --json "$OUT/bench_fp16.json"
  stage bench_bf16 "$LIMIT_BF16" bench "$OUT/bench_bf16.json" -- \
    "$PY" "${BENCH[@]}" --amp bf16 --peers "${PAIR_PEER[@]}" \
    "${PAIR_MODEL[@]}" --json "$OUT/bench_bf16.json"
  stage bench_compile "$LIMIT_COMPILE" bench "$OUT/bench_compile.json" -- \
    "$PY" "${BENCH[@]}" --amp fp16 --compile --peers "${PAIR_PEER[@]}" \
    "${PAIR_MODEL[@]}" --json "$OUT/bench_compile.json"
fi

if [[ "$SKIP" != *" demo "* ]]; then
  # the demo configs as a user runs them; 16 images per class and
  # iteration: one epoch is DEMO_ITERS iterations of batch 16 (4 classes)
  DATA="$OUT/demo_data"
  PER_CLASS=$((DEMO_ITERS * 4))
  DATA_OPTS=()
  for loader in train val test; do
    DATA_OPTS+=("$loader"_dataloader.dataset.data_root="$DATA/cls"
                "$loader"_dataloader.num_workers="$DEMO_WORKERS")
    [ "$DEMO_WORKERS" = 0 ] && DATA_OPTS+=("$loader"_dataloader.persistent_workers=False)
  done
  SHORT=(train_cfg.max_epochs=1 default_hooks.logger.interval=10)
  stage demo_data 120 none - -- \
    "$PY" tools/make_demo_data.py "$DATA" --num-classes 4 \
    --train-per-class "$PER_CLASS" --val-per-class 4 --img-size 64 --seed 0
  stage demo_phase1 "$LIMIT_DEMO" train "$OUT/phase1" -- \
    "$PY" tools/train.py configs/stl/demo/fan_demo_token_labeler.py \
    --work-dir "$OUT/phase1" --no-validate --cfg-options "${DATA_OPTS[@]}" \
    "${SHORT[@]}"
  stage demo_phase2_fp16_teacher "$LIMIT_DEMO" train "$OUT/phase2" -- \
    "$PY" tools/train.py configs/stl/demo/fan_demo_student.py \
    --work-dir "$OUT/phase2" --no-validate --cfg-options "${DATA_OPTS[@]}" \
    "${SHORT[@]}" model.teacher.checkpoint="$OUT/phase1/epoch_1.pth" \
    model.teacher.amp=fp16
fi

[ "$DRY" = 1 ] && exit 0
echo
"$PY" -m stl_mm.apis.gpu_check "$STAGES" | tee "$OUT/table.txt"

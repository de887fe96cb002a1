#!/bin/sh
# The cell models of issue #12 fine-tuned from the shipped synthetic-only ones on the real-nuclei mix, resumable:
# each of CELLS (default all six) starts from weights/models/NAME.fpf (train.py --init: its weights and BN statistics), the FPF
# ones with the frozen tower of the real nucleus model NUCLEUS; then ITERS iterations of schedule_real.sh
# step 5's data (semi-synthetic fields around real nuclei of the train split, 1:1 with the synthetic scenes),
# at learning rate LR (warm-up 100, x0.1 for the last 25 %), the same for all four so they compare.
#     nohup sh weights/train/finetune_real.sh > build/real_ft/finetune.log 2>&1 &
# Environment: CELLS ITERS LR JOBS THREADS SEED OUT REAL NUCLEUS. Rerunning continues where it stopped.
set -e
PY=${PY:-/usr/bin/python3}
REAL=${REAL:-../shared/data/dsb2018_train_fluo}
NUCLEUS=${NUCLEUS:-weights/models/cores_dsb2018.fpf}
CELLS=${CELLS:-"without_nucleus with_nucleus fpf_add fpf_concat fpf_add_weighted fpf_concat_weighted"}
ITERS=${ITERS:-1500}
LR=${LR:-5e-4}
JOBS=${JOBS:-2}
THREADS=${THREADS:-1}
SEED=${SEED:-1}
OUT=${OUT:-build/real_ft}
CELL_DENSE="--pre-nms 4000 --post-nms 1000 --train-rois 256 --mask-rois 32 --infer-post-nms 1000 --infer-max-dets 500"
mkdir -p $OUT
[ -n "$1" ] || $PY weights/train/real.py split --root "$REAL"
tune() {
    m=$1
    [ -f $OUT/$m/done.json ] && [ -f $OUT/$m.fpf ] && return 0
    case $m in *_weighted) v=${m%_weighted}; w=--weighted ;; *) v=$m; w="" ;; esac
    case $v in fpf_*) nuc="--nucleus $NUCLEUS" ;; *) nuc="" ;; esac
    echo "$(date +%T) fine-tune $m ($ITERS iterations from weights/models/$m.fpf)"
    # shellcheck disable=SC2086
    nice -n 10 $PY weights/train/train.py --variant $v $w --init weights/models/$m.fpf $nuc --real "$REAL" --semi 0.5 \
        --aug strong --crop 256 $CELL_DENSE --iters $ITERS --lr $LR --seed $SEED --threads $THREADS \
        --out $OUT/$m --resume > $OUT/$m.out 2>&1
    $PY weights/train/export.py $OUT/$m/ckpt.pt $OUT/$m.fpf
    echo "$(date +%T) done $m -> $OUT/$m.fpf"
}
# one model when named (the workers below), else all of CELLS, JOBS at a time
if [ -n "$1" ]; then tune "$1"; exit 0; fi
# shellcheck disable=SC2086
printf '%s\n' $CELLS | xargs -P "$JOBS" -n 1 sh "$0"
echo "$(date +%T) fine-tuning done"

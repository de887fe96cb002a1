#!/bin/sh
# The real-data schedule of issue #12, resumable (weights/train/README.md, "Real data"):
#   1. the validation split (build/real_data/{train,val}, symlinks into ../shared/data/dsb2018_train_fluo);
#   2. the nucleus model on the real train split -> build/real/cores, a checkpoint kept every KEEP iterations;
#   3. model choice: every kept checkpoint exported and scored on the VALIDATION split (accuracy at IoU 0.5,
#      then AP50), then the chosen one's score floor (FLOORS) the same way -> build/real/cores/best.fpf, then
#      its object diameter for --object-diameter auto (DIAMETERS; 3c);  the test set is not read before step 4;
#   4. the chosen nucleus model and its int8 version (3d) scored once on dsb2018_test_fluo -> build/real/cores_*test.json;
#   5. the cell models (CELLS, default all six) on semi-synthetic fields around real nuclei mixed 1:1 with the
#      synthetic scenes, the FPF ones on the frozen tower of best.fpf, JOBS at a time (same data and schedule
#      for all: a fair comparison).
#     mkdir -p build/real && nohup sh weights/train/schedule_real.sh > build/real/schedule.log 2>&1 &
# Environment: AUG CONFIG CORE_ITERS CELL_ITERS KEEP JOBS THREADS SEED OUT REAL SYNTH_ARGS CELLS FLOORS DIAMETERS, SKIP_TEST=1 skips step 4
# (the smoke test in the README uses them to run every step in a few minutes).
# Rerunning continues where it stopped (train.py --resume; finished steps are skipped).
set -e
PY=${PY:-/usr/bin/python3}
REAL=${REAL:-../shared/data/dsb2018_train_fluo}
JOBS=${JOBS:-2}
THREADS=${THREADS:-1}
CORE_ITERS=${CORE_ITERS:-15000}
AUG=${AUG:-strong}           # nucleus model: strong, or contrast (+ a gain per nucleus, uneven illumination)
CONFIG=${CONFIG:-tiny}        # nucleus model widths: tiny, small (twice tiny) or paper
CELL_ITERS=${CELL_ITERS:-3000}
SEED=${SEED:-1}
KEEP=${KEEP:-2500}
FLOORS=${FLOORS:-"0.5 0.6 0.8 0.9"}   # score floors tried on validation besides the default 0.7
DIAMETERS=${DIAMETERS:-"16 20 24 30"}  # model diameters tried with --object-diameter auto on validation
CELLS=${CELLS:-"without_nucleus with_nucleus fpf_add fpf_concat fpf_add_weighted fpf_concat_weighted"}
OUT=${OUT:-build/real}
SYNTH_ARGS=${SYNTH_ARGS:-}   # e.g. "--data DIR --count N --size S" (default: train.py's 400 synthetic scenes)
DENSE="--anchor-scales 8,16,32,64,128 --pre-nms 4000 --post-nms 1000 --train-rois 256 --mask-rois 32 \
--infer-post-nms 1000 --infer-max-dets 500"
CELL_DENSE="--pre-nms 4000 --post-nms 1000 --train-rois 256 --mask-rois 32 --infer-post-nms 1000 --infer-max-dets 500"
mkdir -p $OUT
make -s build/fpf_synth build/fpf_segment build/fpf_eval build/fpf_quantize
$PY weights/train/real.py split --root "$REAL"

# 2. nucleus model
if [ ! -f $OUT/cores/done.json ]; then
    echo "$(date +%T) train cores ($CORE_ITERS iterations)"
    nice -n 10 $PY weights/train/train.py --variant cores --config $CONFIG --real "$REAL" --aug $AUG --crop 256 $DENSE \
        --iters $CORE_ITERS --keep-every $KEEP --seed $SEED --threads $THREADS --out $OUT/cores --resume
fi

# 3. model choice on the validation split
# valkey JSON: "accuracy@0.5 AP50" of a measure_real.py result; at_least A B: key A >= key B (accuracy, then AP50)
valkey() { $PY -c "import json,sys; r=json.load(open(sys.argv[1]))['segm']; m=r['matching'][0]; \
print('%.6f %.6f' % (m['accuracy'], r['ap50']))" "$1"; }
at_least() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -g -r | head -1)" = "$1" ]; }
if [ ! -f $OUT/cores/best.fpf ]; then
    best=""; best_key=""
    for ck in $OUT/cores/ckpt_*.pt $OUT/cores/ckpt.pt; do
        [ -f "$ck" ] || continue
        n=$(basename "$ck" .pt)
        [ -f $OUT/cores/$n.fpf ] || $PY weights/train/export.py "$ck" $OUT/cores/$n.fpf
        [ -f $OUT/cores/$n.val.json ] || $PY weights/train/measure_real.py --model $OUT/cores/$n.fpf \
            --set-dir build/real_data/val --work $OUT/cores/val_$n --json $OUT/cores/$n.val.json > /dev/null
        key=$(valkey $OUT/cores/$n.val.json)
        echo "$(date +%T) val $n: accuracy@0.5 AP50 = $key"
        if [ -z "$best" ] || at_least "$key" "$best_key"; then
            best=$n; best_key=$key
        fi
    done
    echo "$(date +%T) chosen on validation: $best ($best_key)"
    # 3b. the score floor (det_min_confidence) of the chosen checkpoint, on the validation split too
    ck=$OUT/cores/$best.pt; [ -f "$ck" ] || ck=$OUT/cores/ckpt.pt
    floor=0.7; fkey=$best_key
    for s in $FLOORS; do
        [ -f $OUT/cores/$best.min$s.val.json ] || $PY weights/train/measure_real.py --model $OUT/cores/$best.fpf \
            --set-dir build/real_data/val --min-score $s --work $OUT/cores/val_${best}_$s \
            --json $OUT/cores/$best.min$s.val.json > /dev/null
        key=$(valkey $OUT/cores/$best.min$s.val.json)
        echo "$(date +%T) val $best, score floor $s: accuracy@0.5 AP50 = $key"
        if at_least "$key" "$fkey" && [ "$key" != "$fkey" ]; then
            floor=$s; fkey=$key
        fi
    done
    $PY weights/train/export.py "$ck" $OUT/cores/best.fpf.tmp det_min_confidence=$floor
    mv $OUT/cores/best.fpf.tmp $OUT/cores/best.fpf
    echo "$best $best_key floor $floor $fkey" > $OUT/cores/best.txt
    echo "$(date +%T) score floor chosen on validation: $floor ($fkey)"
fi

# 3c. the object diameter for fpf_segment --object-diameter auto, on the validation split too: each of DIAMETERS
# as --model-diameter with auto, against the plain run; the best mean of accuracy@0.5 and AP50 is recorded in
# best.fpf (object_diameter), unless the plain run is better (then nothing is recorded)
meankey() { $PY -c "import json,sys; r=json.load(open(sys.argv[1]))['segm']; m=r['matching'][0]; \
print('%.6f' % ((m['accuracy'] + r['ap50']) / 2))" "$1"; }
if [ ! -f $OUT/cores/diameter.txt ]; then
    # the plain run of best.fpf is step 3b's run of its checkpoint at the chosen floor (best.txt: CKPT A B floor F ...)
    read -r n _ _ _ floor _ < $OUT/cores/best.txt
    plain=$OUT/cores/$n.min$floor.val.json; [ "$floor" = 0.7 ] && plain=$OUT/cores/$n.val.json
    dbest=0; dkey=$(meankey $plain)
    echo "$(date +%T) val best.fpf, plain: mean(accuracy@0.5, AP50) = $dkey"
    for d in $DIAMETERS; do
        [ -f $OUT/cores/best.auto$d.val.json ] || $PY weights/train/measure_real.py --model $OUT/cores/best.fpf \
            --set-dir build/real_data/val --segment-args "--object-diameter auto --model-diameter $d" \
            --work $OUT/cores/val_auto$d --json $OUT/cores/best.auto$d.val.json > /dev/null
        key=$(meankey $OUT/cores/best.auto$d.val.json)
        echo "$(date +%T) val best.fpf, --object-diameter auto --model-diameter $d: mean(accuracy@0.5, AP50) = $key"
        if at_least "$key" "$dkey" && [ "$key" != "$dkey" ]; then dbest=$d; dkey=$key; fi
    done
    if [ "$dbest" != 0 ]; then
        $PY weights/fpf_write.py --set $OUT/cores/best.fpf $OUT/cores/best.fpf object_diameter=$dbest
    fi
    echo "$dbest $dkey" > $OUT/cores/diameter.txt
    echo "$(date +%T) object diameter chosen on validation: $dbest ($dkey; 0 = none, the plain run is best)"
fi

# 3d. its int8 version, calibrated on the first 32 images of the training split (the shipped NAME_int8.fpf)
[ -f $OUT/cores/best_int8.fpf ] || build/fpf_quantize --model $OUT/cores/best.fpf --out $OUT/cores/best_int8.fpf \
    --threads $THREADS --calib $(ls build/real_data/train/*.png | head -32)

# 4. the one test-set measurement of the chosen nucleus model (and with --object-diameter auto, when 3c chose it)
# its own work folder: measure_real.py resumes from the segmentations it finds there (the default folder is
# named after the model file, best.fpf, and would hold another run's)
[ -n "$SKIP_TEST" ] || [ -f $OUT/cores_test.json ] || $PY weights/train/measure_real.py --model $OUT/cores/best.fpf \
    --work $OUT/test_eval --json $OUT/cores_test.json
[ -n "$SKIP_TEST" ] || [ "$(cut -d' ' -f1 $OUT/cores/diameter.txt)" = 0 ] || [ -f $OUT/cores_auto_test.json ] || \
    $PY weights/train/measure_real.py --model $OUT/cores/best.fpf --segment-args "--object-diameter auto" \
    --work $OUT/test_eval_auto --json $OUT/cores_auto_test.json
[ -n "$SKIP_TEST" ] || [ -f $OUT/cores_int8_test.json ] || $PY weights/train/measure_real.py \
    --model $OUT/cores/best_int8.fpf --work $OUT/test_eval_int8 --json $OUT/cores_int8_test.json
[ -n "$SKIP_TEST" ] || [ "$(cut -d' ' -f1 $OUT/cores/diameter.txt)" = 0 ] || [ -f $OUT/cores_int8_auto_test.json ] || \
    $PY weights/train/measure_real.py --model $OUT/cores/best_int8.fpf --segment-args "--object-diameter auto" \
    --work $OUT/test_eval_int8_auto --json $OUT/cores_int8_auto_test.json

# 5. cell models (name: extra arguments)
cell() {
    m=$1; shift
    case " $CELLS " in *" $m "*) ;; *) return 0 ;; esac
    [ -f $OUT/$m/done.json ] && return 0
    echo "$(date +%T) train $m ($CELL_ITERS iterations)"
    nice -n 10 $PY weights/train/train.py "$@" --real "$REAL" --semi 0.5 --aug strong --crop 256 $CELL_DENSE \
        --iters $CELL_ITERS --seed $SEED --threads $THREADS --out $OUT/$m --resume $SYNTH_ARGS > $OUT/$m.out 2>&1
    $PY weights/train/export.py $OUT/$m/ckpt.pt $OUT/$m.fpf
}
NUC="--nucleus $OUT/cores/best.fpf"
running=0
for spec in "without_nucleus --variant without_nucleus" "with_nucleus --variant with_nucleus" \
            "fpf_add --variant fpf_add $NUC" "fpf_concat --variant fpf_concat $NUC" \
            "fpf_add_weighted --variant fpf_add --weighted $NUC" "fpf_concat_weighted --variant fpf_concat --weighted $NUC"; do
    # shellcheck disable=SC2086
    case " $CELLS " in *" ${spec%% *} "*) ;; *) continue ;; esac
    cell $spec &
    running=$((running + 1))
    if [ $running -ge "$JOBS" ]; then wait; running=0; fi
done
wait

echo "$(date +%T) schedule done"

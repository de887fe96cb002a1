#!/bin/sh
# bench/dsb_sweep.sh - the scale sweep of weights/RESULTS.md: the shipped nucleus model on every image
# of ../shared/data/dsb2018_test_fluo (real nuclei, test only: nothing is tuned on it) at --scale
# 1, 2, 3 and 4, and "auto" (per image: run at scale 1, take the median equivalent diameter of the
# detections, D = 2 sqrt(area / pi), and run again at scale 30 / D, clamped to 1..4; no detection:
# scale 1). Scores with fpf_eval (label mode, scores from nuclei.csv). Usage: sh bench/dsb_sweep.sh [SCALES]
set -e
D=${DSB:-../shared/data/dsb2018_test_fluo}
W=build/dsb_sweep
SCALES=${1:-"1 2 3 4"}
[ -d "$D" ] || { echo "no $D: skipped"; exit 0; }
mkdir -p $W/gt
echo "id,nucleus" > $W/manifest.csv
for f in "$D"/*_labels.tif; do
    id=$(basename "$f" _labels.tif)
    ln -sf "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" $W/gt/$id.tif
    echo "$id,$(cd "$D" && pwd)/$id.png" >> $W/manifest.csv
done
score() { # $1 = run folder: dt/ID.tif links and the scores CSV, then fpf_eval
    mkdir -p $1/dt; echo "file,label,score" > $1/scores.csv
    for g in $W/gt/*.tif; do
        id=$(basename $g .tif)
        ln -sf ../$id/nuclei.tif $1/dt/$id.tif
        awk -F, -v f=$id 'NR > 1 { print f "," $1 "," $2 }' $1/$id/nuclei.csv >> $1/scores.csv
    done
    build/fpf_eval --gt-labels $W/gt --dt-labels $1/dt --dt-scores $1/scores.csv > $1/eval.txt
    echo "$2: $(grep -E '^fpf_eval' $1/eval.txt)"
    grep -E "AP @ IoU 0.50 |mean AP 0.50-0.90|mAP 0.50:0.95" $1/eval.txt
}
for s in $SCALES; do
    [ -f $W/s$s/summary.csv ] || build/fpf_segment --model weights/models/cores.fpf --batch $W/manifest.csv \
        --out $W/s$s --scale $s --threads 1 --quiet
    score $W/s$s "scale $s"
done
if [ -n "$AUTO" ]; then
    mkdir -p $W/auto
    for g in $W/gt/*.tif; do
        id=$(basename $g .tif)
        s=$(awk -F, 'NR > 1 && $7 > 0 { print 2 * sqrt($7 / 3.14159265) }' $W/s1/$id/nuclei.csv | sort -g |
            awk '{ d[n++] = $1 } END { if (!n) { print 1; exit } s = 30 / d[int((n - 1) / 2)];
                 if (s < 1) s = 1; if (s > 4) s = 4; printf "%.3f\n", s }')
        [ -f $W/auto/$id/nuclei.csv ] || build/fpf_segment --model weights/models/cores.fpf --nucleus "$(cd "$D" && pwd)/$id.png" \
            --out $W/auto/$id --scale $s --threads 1 --quiet
        echo "$id $s" >> $W/auto/scales.txt
    done
    score $W/auto "auto"
fi

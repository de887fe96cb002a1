#!/bin/sh
# bench/tile_field.sh - the tiling measurements of weights/RESULTS.md: a synthetic SIZE x SIZE field
# (fpf_synth, seed 5001) through the shipped FPF-add and nucleus models, tiled (default --tile 1024),
# then recall, precision and duplicates against the generator's labels (bench/label_match.c) and
# wall time and peak RSS (/usr/bin/time -v). Usage: sh bench/tile_field.sh SIZE [extra fpf_segment flags]
set -e
SIZE=${1:-4096}; shift || true
W=build/tile_field_$SIZE
mkdir -p $W
cc -O2 -std=c99 -I. -Iexamples bench/label_match.c -o build/label_match -lm
[ -f $W/field/synth_5001_cell.tif ] || build/fpf_synth --out $W/field --seed 5001 --width $SIZE --height $SIZE --quiet
/usr/bin/time -v build/fpf_segment --model weights/models/fpf_add.fpf --nucleus-model weights/models/cores.fpf \
    --nucleus $W/field/synth_5001_nucleus.tif --cell $W/field/synth_5001_cell.tif --out $W/out --threads 1 "$@" \
    2> $W/time.txt || { cat $W/time.txt; exit 1; }
grep -E "fpf_segment|warning|Elapsed|Maximum resident" $W/time.txt
echo "cells:  $(build/label_match $W/field/synth_5001_cell_labels.tif $W/out/cells.tif $W/out/cells.csv)"
echo "nuclei: $(build/label_match $W/field/synth_5001_nucleus_labels.tif $W/out/nuclei.tif $W/out/nuclei.csv)"

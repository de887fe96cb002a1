#!/bin/sh
# workflow/make_synth_plate.sh OUTDIR [WELLS] - a small synthetic plate for the workflow (CI):
# fpf_synth fields (384x320) for wells A01.. (default 6 wells, 1 site each) and OUTDIR/plate.csv.
set -e
out=$1; n=${2:-6}; bin=${FPF_BIN:-build}
mkdir -p "$out/raw"
echo "plate,well,site,nucleus,cell" > "$out/plate.csv"
i=0
while [ $i -lt "$n" ]; do
    row=$(printf "\\$(printf '%03o' $((65 + i / 12)))"); col=$(printf '%02d' $((i % 12 + 1)))
    "$bin/fpf_synth" --seed $((500 + i)) --width 384 --height 320 --quiet --out "$out/raw/$row$col" >/dev/null
    echo "SYN1,$row$col,1,raw/$row$col/synth_$((500 + i))_nucleus.tif,raw/$row$col/synth_$((500 + i))_cell.tif" >> "$out/plate.csv"
    i=$((i + 1))
done
echo "make_synth_plate: $n fields in $out/plate.csv"

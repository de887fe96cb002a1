#!/bin/sh
# make demo-real: the shipped models on the real two-channel images of ../shared/data (read in place,
# never copied into the repository). Writes build/demo_real/<model>/<image>/{cells,nuclei}.{tif,csv} and
# overlay.png, and prints the counts (OUT and ARGS below). MODELS overrides the cell models (default: the FPF ⊙ model on the real nucleus tower, the
# synthetic-only FPF ⊕ and both baselines).
set -e
D=${SHARED_DATA:-../shared/data}
OUT=${OUT:-build/demo_real}
ARGS=${ARGS:-}   # more fpf_segment options, e.g. ARGS="--post off" (the models' own cells, no post-processing)
MODELS=${MODELS:-"fpf_concat_weighted_dsb2018 fpf_add without_nucleus with_nucleus"}
NUC=${NUC:-weights/models/cores_dsb2018.fpf}   # the real-data nucleus model (issue #12)
[ -d "$D" ] || { echo "demo-real: $D not found (set SHARED_DATA)"; exit 1; }
run() { # model name nucleus-args cell-args
    m=$1; n=$2; shift 2
    [ -f weights/models/$m.fpf ] || { echo "skip $m (not shipped)"; return 0; }
    mkdir -p $OUT/$m
    build/fpf_segment --model weights/models/$m.fpf --nucleus-model $NUC "$@" --out $OUT/$m/$n --overlay --quiet --threads 2 --tile 512 --overlap 128 $ARGS
    c=$(($(wc -l < $OUT/$m/$n/cells.csv) - 1)); k=$(($(wc -l < $OUT/$m/$n/nuclei.csv) - 1))
    printf '%-18s %-16s %4d cells %4d nuclei  -> %s/overlay.png\n' "$m" "$n" "$c" "$k" "$OUT/$m/$n"
}
for m in $MODELS; do
    run $m instanseg --nucleus $D/instanseg_fluorescence_example/Fluorescence_example.tif --nucleus-page 1 \
        --cell $D/instanseg_fluorescence_example/Fluorescence_example.tif --cell-page 0
    H=$D/cellprofiler_examples/ExampleHuman/AS_09125_050116030001_D03f00d
    run $m human --nucleus ${H}0.tif --cell ${H}2.tif
    for p in POS002 POS076 POS218; do
        F=$D/cellprofiler_examples/ExampleFly/01_${p}
        run $m fly_$p --nucleus ${F}_D.TIF --cell ${F}_F.TIF
    done
done

# The plain baseline: a global Otsu threshold + 8-connected components of >= 20 px, per channel
# (bench/otsu_count.c; no smoothing and no splitting of touching objects).
mkdir -p build
[ build/otsu_count -nt bench/otsu_count.c ] || cc -O2 -std=c99 -I. -Iexamples bench/otsu_count.c -o build/otsu_count -lm
otsu() { # name nucleus-image nucleus-page cell-image cell-page
    printf '%-18s %-16s %4d cells %4d nuclei  (Otsu threshold + connected components)\n' otsu "$1" \
        "$(build/otsu_count "$4" --page "$5" | cut -d' ' -f1)" "$(build/otsu_count "$2" --page "$3" | cut -d' ' -f1)"
}
I=$D/instanseg_fluorescence_example/Fluorescence_example.tif
H=$D/cellprofiler_examples/ExampleHuman/AS_09125_050116030001_D03f00d
otsu instanseg "$I" 1 "$I" 0
otsu human ${H}0.tif 0 ${H}2.tif 0
for p in POS002 POS076 POS218; do
    F=$D/cellprofiler_examples/ExampleFly/01_${p}
    otsu fly_$p ${F}_D.TIF 0 ${F}_F.TIF 0
done

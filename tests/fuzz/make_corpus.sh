#!/bin/sh
# tests/fuzz/make_corpus.sh OUTDIR CORPUS_TOOL - seed corpora for make fuzz, generated, never
# committed: files from tests/fixtures (images, COCO JSON, label images), a synthetic plate from
# build/fpf_synth (TIFF, PNG, COCO with list and string RLE), and what make_corpus.c writes.
set -e
out=$1; tool=$2
for t in model tiff png inflate lzw packbits coco rle labels manifest; do mkdir -p "$out/$t"; done
cp tests/fixtures/image/*.tif "$out/tiff/"
cp tests/fixtures/image/*.png "$out/png/"
cp tests/fixtures/image/*.png tests/fixtures/image/tif_u8_*.tif "$out/labels/"
cp tests/fixtures/eval/labels_gt/* tests/fixtures/eval/labels_dt/* "$out/labels/" 2>/dev/null || true
for f in tests/fixtures/eval/gt_*.json; do
    b=$(basename "$f" .json); d="tests/fixtures/eval/dt_${b#gt_}.json"
    cp "$f" "$out/coco/$b.json"
    [ -f "$d" ] && { cat "$f"; printf '\0'; cat "$d"; } > "$out/coco/pair_${b#gt_}"
done
if [ -x build/fpf_synth ]; then
    s=$(mktemp -d /tmp/fpf_corpus_XXXXXX)
    build/fpf_synth --seed 5 --width 96 --height 64 --rle counts --quiet --out "$s/a" >/dev/null 2>&1 || true
    build/fpf_synth --seed 6 --width 96 --height 64 --rle string --png-layout --quiet --out "$s/b" >/dev/null 2>&1 || true
    find "$s" -name '*.tif' -exec cp {} "$out/tiff/" \; 2>/dev/null || true
    find "$s" -name '*.tif' -exec cp {} "$out/labels/" \; 2>/dev/null || true
    find "$s" -name '*.png' -exec cp {} "$out/png/" \; 2>/dev/null || true
    n=0; for j in $(find "$s" -name '*.json'); do n=$((n + 1)); cp "$j" "$out/coco/synth_$n.json"; done
    rm -rf "$s"
fi
# RLE: (h, w, mode) + a counts string or u16 counts
printf '\010\010\001PPYo0' > "$out/rle/str1"
printf '\004\004\001203' > "$out/rle/str2"
printf '\003\003\000\003\000\003\000\003\000' > "$out/rle/cnt1"
printf '\077\077\001[Y1]c0:E;O1O001N2N2M3L5J[Q1' > "$out/rle/str3"
# manifests: fpf_segment --batch CSVs (quotes, extra and missing columns, bad and repeated ids,
# CRLF); a two-line input also seeds the pattern stem (pattern, then path)
m=$out/manifest
printf 'id,nucleus,cell\nA01,a_w1.tif,a_w2.tif\nA02,/abs/b_w1.tif,\n' > "$m/basic"
printf 'id,nucleus,cell,reporter\r\nA01,"x,1.tif","y""2.tif",r.tif\r\n\r\nA01,n.tif,c.tif,\r\n' > "$m/quotes_repeat"
printf 'well,id,extra,cell\n,c1.tif\n..,x,y,c2.tif\na/b,,,c3.tif\n.hidden,,,c4.tif\n' > "$m/bad_ids"
printf '"id","nucleus"\n"s""1","n.tif"\n"unterminated,n2.tif\n' > "$m/unterminated"
printf 'id\nA01\n' > "$m/no_image_column"
printf 'dir/*_w1.tif\ndir/A01_s2_w1.tif\n' > "$m/stem"
"$tool" "$out" tests/fixtures/image/*.tif

#!/bin/sh
# tests/doc_snippets.sh - the documented C code, compiled and run: the quick starts in the header
# comments of fpf.h and fpf_eval.h and every ```c block of README.md and docs/*.md. Each snippet's #define/#include lines go first, then
# tests/doc_snippets.h (the images, instances and labels a snippet leaves to the reader), then
# main() with the rest, then the implementations the snippet did not define. Each runs in a scratch
# folder holding the shipped models and example images under the names the snippets use.
# make test runs it (CC and CFLAGS from the Makefile); prints "docs: N passed, N failed".
CC=${CC:-cc}
CFLAGS=${CFLAGS:--std=c99 -O2 -Wall -Wextra -Wpedantic -ffp-contract=off}
root=$(pwd)
dir=build/tests/docs
rm -rf "$dir" && mkdir -p "$dir/run" || exit 1
pass=0; fail=0

# fpf.h: the lines after "   Quick start" up to the next heading, the 7-space indent removed
awk '/^   Quick start/ {f = 1; next} f && /^   [A-Z]/ {exit} f {sub(/^       /, ""); print}' fpf.h > "$dir/fpf_h_quick_start.txt"
# fpf_eval.h: the lines after "   QUICK START" up to the next heading
awk '/^   QUICK START/ {f = 1; next} f && /^   [A-Z]/ {exit} f {sub(/^       /, ""); print}' fpf_eval.h > "$dir/fpf_eval_h_quick_start.txt"
# README.md and docs/*.md: every ```c block
awk -v d="$dir" '/^```c$/ {n++; f = 1; next} /^```/ {f = 0} f {print > (d "/readme_block_" n ".txt")}' README.md
for md in docs/*.md; do
    base=$(basename "$md" .md)
    awk -v d="$dir" -v b="$base" '/^```c$/ {n++; f = 1; next} /^```/ {f = 0} f {print > (d "/docs_" b "_block_" n ".txt")}' "$md"
done

ln -s "$root/weights/models/fpf_add.fpf" "$dir/run/fpf_add.fpf"
ln -s "$root/weights/models/cores.fpf" "$dir/run/cores.fpf"
ln -s "$root/weights/models/example/synth_1003_cell.tif" "$dir/run/example_cell.tif"
ln -s "$root/weights/models/example/synth_1003_nucleus.tif" "$dir/run/example_nucleus.tif"
ln -s "$root/weights/models/example/synth_1003_cell.tif" "$dir/run/cells.tif"

for txt in "$dir"/*.txt; do
    name=$(basename "$txt" .txt)
    c="$dir/$name.c"
    if [ ! -s "$txt" ]; then echo "FAIL docs_$name: empty snippet"; fail=$((fail + 1)); continue; fi
    {
        grep '^#' "$txt"
        # fpf_image.h keeps its implementation inside its include guard: it must come first time
        grep -q FPF_IMAGE_IMPLEMENTATION "$txt" || echo '#define FPF_IMAGE_IMPLEMENTATION'
        echo '#include "doc_snippets.h"'
        echo 'int main(void) {'
        echo '    doc_setup();'
        echo '    {'
        grep -v '^#' "$txt"
        echo '    }'
        echo '    return 0;'
        echo '}'
        echo '#ifndef FPF_IMPLEMENTATION_INCLUDED'
        echo '#define FPF_IMPLEMENTATION'
        echo '#include "fpf.h"'
        echo '#endif'
        echo '#ifndef FPF_EVAL_IMPLEMENTATION_DONE'
        echo '#define FPF_EVAL_IMPLEMENTATION'
        echo '#include "fpf_eval.h"'
        echo '#endif'
    } > "$c"
    if ! $CC $CFLAGS -Werror -Wno-unused-parameter -I. -Iexamples -Itests "$c" -o "$dir/$name" -lm -lpthread \
         > "$dir/$name.cc.log" 2>&1; then
        echo "FAIL docs_$name: does not compile ($c):"; sed -n 1,20p "$dir/$name.cc.log"
        fail=$((fail + 1)); continue
    fi
    if ! (cd "$dir/run" && "../$name") > "$dir/$name.out" 2>&1; then
        echo "FAIL docs_$name: exit status non-zero:"; tail -n 5 "$dir/$name.out"
        fail=$((fail + 1)); continue
    fi
    case $name in fpf_h*|readme_block_1) # the fpf.h snippets run the shipped FPF-add model: cells expected
        if ! grep -q '^cell 1:' "$dir/$name.out"; then
            echo "FAIL docs_$name: no cell found"; fail=$((fail + 1)); continue
        fi;;
    fpf_eval_h*) # one exact match, one shifted (IoU 20/30 < 0.75): TP 1 FP 1 FN 1
        if ! grep -q 'TP 1 FP 1 FN 1' "$dir/$name.out"; then
            echo "FAIL docs_$name: $(cat "$dir/$name.out")"; fail=$((fail + 1)); continue
        fi;;
    esac
    echo "ok   docs_$name"; pass=$((pass + 1))
done
echo "docs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

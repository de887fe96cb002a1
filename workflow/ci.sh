#!/bin/sh
# workflow/ci.sh - the Snakemake workflow on a small synthetic plate (CI): a local run with
# --cores 2, a check of the summary against the per-image outputs, a second run that must find
# nothing to do, the same plate through an installed tree (make install), and a dry run of the
# SLURM profile. Run from the repository root after `make`.
set -eu
d=build/workflow-ci
rm -rf "$d"
sh workflow/make_synth_plate.sh "$d/plate" 6
snakemake -s workflow/Snakefile --cores 2 --quiet --config manifest="$d/plate/plate.csv" out="$d/results"
python3 workflow/check_summary.py "$d/results" "$d/plate/plate.csv"
snakemake -s workflow/Snakefile --cores 2 --config manifest="$d/plate/plate.csv" out="$d/results" 2>&1 |
    grep -q "Nothing to be done" || { echo "workflow: a second run redid work"; exit 1; }
make -s install PREFIX="$(pwd)/$d/prefix" >/dev/null
p="$(pwd)/$d/prefix"
snakemake -s workflow/Snakefile --cores 2 --quiet --config manifest="$d/plate/plate.csv" out="$d/results_installed" \
    bin="$p/bin" model="$p/share/fpf/models/fpf_add.fpf" nucleus_model="$p/share/fpf/models/cores.fpf"
python3 workflow/check_summary.py "$d/results_installed" "$d/plate/plate.csv"
cmp "$d/results/SYN1/A01_s1/cells.csv" "$d/results_installed/SYN1/A01_s1/cells.csv"
snakemake -s workflow/Snakefile --profile workflow/profiles/slurm -n --config manifest="$d/plate/plate.csv" \
    out="$d/results_slurm" > "$d/slurm_dryrun.txt" 2>&1
grep -E "^segment +6 +4 +4" "$d/slurm_dryrun.txt" >/dev/null || { cat "$d/slurm_dryrun.txt"; echo "workflow: SLURM dry run"; exit 1; }
echo "workflow: local run, summary check, rerun, installed tree and SLURM dry run OK"

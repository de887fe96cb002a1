"""workflow/check_summary.py RESULTS PLATE_CSV: the per-plate summary agrees with the per-image
outputs (one row per manifest field; counts = data rows of each cells.csv / nuclei.csv)."""
import csv
import os
import sys

out, manifest = sys.argv[1], sys.argv[2]
fields = list(csv.DictReader(open(manifest, newline="")))
bad = 0
for plate in sorted({f["plate"] for f in fields}):
    summary = {(r["well"], r["site"]): r for r in csv.DictReader(open(os.path.join(out, plate, "summary.csv"), newline=""))}
    want = [f for f in fields if f["plate"] == plate]
    if len(summary) != len(want):
        print(f"{plate}: summary has {len(summary)} rows, manifest {len(want)}"); bad += 1
    for f in want:
        d = os.path.join(out, plate, f"{f['well']}_s{f['site']}")
        n_c = sum(1 for _ in open(os.path.join(d, "cells.csv"))) - 1
        n_n = sum(1 for _ in open(os.path.join(d, "nuclei.csv"))) - 1
        s = summary.get((f["well"], f["site"]))
        if not s or int(s["n_cells"]) != n_c or int(s["n_nuclei"]) != n_n:
            print(f"{plate} {f['well']} s{f['site']}: summary {s and (s['n_cells'], s['n_nuclei'])}, files ({n_c}, {n_n})"); bad += 1
        for name in ("cells.tif", "nuclei.tif"):
            if not os.path.exists(os.path.join(d, name)):
                print(f"{d}: {name} missing"); bad += 1
    for q in ("well_counts.svg", "scores.svg"):
        if not os.path.getsize(os.path.join(out, plate, "qc", q)):
            print(f"{plate}: qc/{q} empty"); bad += 1
print(f"workflow check: {len(fields)} fields, {bad} problems")
sys.exit(1 if bad else 0)

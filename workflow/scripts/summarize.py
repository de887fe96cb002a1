"""Per-plate summary: one row per field of view from fpf_segment's cells.csv / nuclei.csv.

Counts are rows of those files; no segmentation happens here. Runs under Snakemake's `script:`.
"""
import csv


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def mean(v):
    return sum(v) / len(v) if v else 0.0


sm = snakemake  # noqa: F821 (provided by Snakemake)
with open(sm.output[0], "w", newline="") as out:
    w = csv.writer(out)
    w.writerow(["plate", "well", "site", "n_cells", "n_nuclei", "mean_cell_area", "mean_cell_score",
                "mean_nucleus_area", "cells_csv"])
    for meta, cpath, npath in zip(sm.params.fields, sm.input.cells, sm.input.nuclei):
        c, n = rows(cpath), rows(npath)
        w.writerow([meta["plate"], meta["well"], meta["site"], len(c), len(n),
                    f"{mean([float(r['AreaShape_Area']) for r in c]):.2f}",
                    f"{mean([float(r['Score']) for r in c]):.4f}",
                    f"{mean([float(r['AreaShape_Area']) for r in n]):.2f}", cpath])

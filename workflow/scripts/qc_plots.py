"""QC plots of one plate as dependency-free SVG: cells per well on the plate grid, and the
histogram of mean cell scores per field. Runs under Snakemake's `script:`."""
import csv
import re
from collections import defaultdict

sm = snakemake  # noqa: F821 (provided by Snakemake)
with open(sm.input[0], newline="") as f:
    rows = list(csv.DictReader(f))


def svg(path, w, h, body, title):
    with open(path, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">\n'
                f'<text x="8" y="16" font-size="13">{title}</text>\n{body}</svg>\n')


# cells per well (summed over sites) on the plate grid: rows A.., columns 1..
per_well = defaultdict(int)
for r in rows:
    per_well[r["well"]] += int(r["n_cells"])
pos = {}
for well in per_well:
    m = re.match(r"([A-Za-z]+)0*([0-9]+)$", well)
    pos[well] = (ord(m.group(1)[-1].upper()) - 65, int(m.group(2)) - 1) if m else (0, len(pos))
nr = max([p[0] for p in pos.values()] + [0]) + 1
nc = max([p[1] for p in pos.values()] + [0]) + 1
top = max(per_well.values() or [1]) or 1
cell = 36
body = []
for well, (i, j) in pos.items():
    v = per_well[well] / top
    shade = int(255 - 200 * v)
    body.append(f'<rect x="{30 + j * cell}" y="{30 + i * cell}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="rgb({shade},{shade},255)"><title>{well}: {per_well[well]} cells</title></rect>'
                f'<text x="{32 + j * cell}" y="{52 + i * cell}">{per_well[well]}</text>')
for j in range(nc):
    body.append(f'<text x="{40 + j * cell}" y="26">{j + 1}</text>')
for i in range(nr):
    body.append(f'<text x="12" y="{52 + i * cell}">{chr(65 + i)}</text>')
svg(sm.output.counts, 40 + nc * cell, 40 + nr * cell, "\n".join(body), f"{rows[0]['plate'] if rows else ''}: cells per well")

# histogram of the mean cell score per field, 20 bins over [0, 1]
bins = [0] * 20
for r in rows:
    if int(r["n_cells"]):
        bins[min(19, int(float(r["mean_cell_score"]) * 20))] += 1
top = max(bins) or 1
body = [f'<rect x="{30 + k * 14}" y="{170 - 140 * b / top:.1f}" width="12" height="{140 * b / top:.1f}" fill="steelblue">'
        f'<title>{k / 20:.2f}-{(k + 1) / 20:.2f}: {b}</title></rect>' for k, b in enumerate(bins)]
body.append('<text x="30" y="186">0</text><text x="296" y="186">1</text><text x="120" y="200">mean cell score per field</text>')
svg(sm.output.scores, 330, 210, "\n".join(body), "fields by mean cell score")

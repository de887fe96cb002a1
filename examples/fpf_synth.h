/* examples/fpf_synth.h - synthetic two-channel macrophage images with instance ground truth.
 *
 * Models the FPF paper's data (Korfhage et al. 2020): THP-1-derived macrophages at 20x,
 * Hoechst nuclei + CellMask cytoplasm, 12-bit camera, about 32 cells per 1280 x 1024 field.
 * Deterministic: the same parameters and seed give the same bytes (one RNG, fixed order).
 *
 *   fpfs_params p; fpfs_default_params(&p); p.seed = 7;
 *   fpfs_scene s;  fpfs_generate(&p, &s);     ... s.nucleus, s.cell, s.cell_labels ...
 *   fpfs_free(&s);
 *
 * Header-only; define FPF_SYNTH_IMPLEMENTATION in one .c file. libc + libm only.
 *
 * Model, in the order it is built (each step is one function below):
 *   1. cells: star-shaped outlines r(theta) = ellipse x (1 + low harmonics) + protrusion
 *      bumps; spread macrophages (most), small round undifferentiated cells, rounded
 *      mitotic cells with two condensed daughter nuclei. Cells are placed in clusters:
 *      a new member sits against an existing one so their outlines overlap.
 *   2. labels: a pixel belongs to the cell with the smallest normalised radius
 *      rho = distance / r(theta) < 1, so overlapping outlines become touching cells with
 *      a shared border, and no pixel has two owners. Nuclei are clipped to their cell.
 *   3. rendering: cytoplasm brightest around the nucleus, fading toward the edge, with
 *      texture and a faint dimming along borders between touching cells; textured
 *      nuclei with bright chromocentres; blur; uneven background and vignetting;
 *      Poisson shot noise, Gaussian read noise, camera offset, 12-bit clipping. */
#ifndef FPF_SYNTH_H
#define FPF_SYNTH_H
#include <stddef.h>
#include <stdint.h>

#define FPFS_VERSION "1.0"

typedef struct fpfs_params {
    int width, height;       /* default 1280 x 1024 */
    uint64_t seed;
    double cells_per_field;  /* mean cell count for a 1280 x 1024 field (32); scales with area */
    double round_fraction;   /* undifferentiated round cells (0.12) */
    double mitotic_fraction; /* cells with two nuclei (0.05) */
    double cluster_mean;     /* mean cluster size in cells (2.2) */
} fpfs_params;

typedef struct fpfs_scene {
    int w, h;
    uint16_t *nucleus, *cell;           /* channel images, 12-bit values in 16-bit words */
    uint16_t *cell_labels, *nuc_labels; /* 0 background, 1..ncells / 1..nnuclei */
    int ncells, nnuclei;
    int *nuc_to_cell;                   /* nuc_to_cell[k-1] = cell label of nucleus k */
    int *cell_kind;                     /* cell_kind[c-1]: 0 spread, 1 round, 2 mitotic */
} fpfs_scene;

#ifdef __cplusplus
extern "C" {
#endif
void fpfs_default_params(fpfs_params *p);
int fpfs_generate(const fpfs_params *p, fpfs_scene *s); /* 0 or -1 (out of memory / bad size) */
void fpfs_free(fpfs_scene *s);
/* Crop a scene (labels renumbered 1.. in order of first appearance, mapping kept). */
int fpfs_crop(const fpfs_scene *s, int x0, int y0, int w, int h, fpfs_scene *out);
/* Render nucleus (blue) + cytoplasm (red) with GT outlines into rgb (w*h*3). */
void fpfs_overlay(const fpfs_scene *s, unsigned char *rgb, int outlines);
/* A third, reporter channel for a generated scene (issue #14): each cell is infected with
 * probability `fraction`; an infected cell holds 1-4 bright rod-shaped bacteria (half-length
 * 2.5-5 px, half-width 1.3 px), each with its reach (half-length + 3 px, a square) inside the
 * cell, outside its nuclei where possible (a rod with no such place in 200 tries is left out).
 * Cells glow faintly (+6 ADU over a 20 ADU background); blur sigma 1; the camera model of
 * the other channels. *image (w*h, 12-bit values) and *infected (ncells: 1 when at least one
 * bacterium of >= 3 px lies in the cell) are malloc'ed. Deterministic in seed. 0 or -1. */
int fpfs_reporter(const fpfs_scene *s, uint64_t seed, double fraction, uint16_t **image, int **infected);
#ifdef __cplusplus
}
#endif

#ifdef FPF_SYNTH_IMPLEMENTATION
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define FPFS__NA 512 /* angular samples of an outline */
#define FPFS__MAXNUC 2

/* ---- random numbers: splitmix64, a fixed-sequence generator ------------------------ */
typedef struct fpfs__rng { uint64_t s; } fpfs__rng;
static uint64_t fpfs__next(fpfs__rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double fpfs__uni(fpfs__rng *r) { return (double)(fpfs__next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double fpfs__range(fpfs__rng *r, double a, double b) { return a + (b - a) * fpfs__uni(r); }
static double fpfs__gauss(fpfs__rng *r) {
    double u = fpfs__uni(r), v = fpfs__uni(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}
/* Poisson sample: Knuth's product method for small means, normal approximation above 30. */
static double fpfs__poisson(fpfs__rng *r, double lambda) {
    if (lambda <= 0) return 0;
    if (lambda < 30) {
        double L = exp(-lambda), p = 1.0;
        int k = 0;
        do { k++; p *= fpfs__uni(r); } while (p > L);
        return k - 1;
    } else {
        double v = floor(lambda + sqrt(lambda) * fpfs__gauss(r) + 0.5);
        return v < 0 ? 0 : v;
    }
}

/* ---- value noise: smooth lattice noise for textures and background ----------------- */
static double fpfs__lattice(uint64_t seed, long ix, long iy) {
    uint64_t h = seed ^ ((uint64_t)(ix * 73856093L) * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(iy * 19349663L) * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 29; h *= 0xBF58476D1CE4E5B9ull; h ^= h >> 32;
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}
static double fpfs__vnoise(uint64_t seed, double x, double y) {
    long ix = (long)floor(x), iy = (long)floor(y);
    double fx = x - ix, fy = y - iy, a, b, c, d;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    a = fpfs__lattice(seed, ix, iy); b = fpfs__lattice(seed, ix + 1, iy);
    c = fpfs__lattice(seed, ix, iy + 1); d = fpfs__lattice(seed, ix + 1, iy + 1);
    return (a + (b - a) * fx) + ((c + (d - c) * fx) - (a + (b - a) * fx)) * fy - 0.5;
}
/* Fractal sum of octaves, roughly in [-0.5, 0.5]; scale = size of the largest feature. */
static double fpfs__fbm(uint64_t seed, double x, double y, double scale, int octaves) {
    double sum = 0, amp = 0.5, norm = 0, f = 1.0 / scale;
    int o;
    for (o = 0; o < octaves; o++) {
        sum += amp * fpfs__vnoise(seed + (uint64_t)o * 101, x * f, y * f);
        norm += amp;
        amp *= 0.5;
        f *= 2.0;
    }
    return sum / norm;
}

/* ---- shapes ------------------------------------------------------------------------ */
typedef struct fpfs__shape {
    double cx, cy, rmax;
    float r[FPFS__NA]; /* outline radius at angle 2 pi i / NA */
} fpfs__shape;

typedef struct fpfs__cell {
    fpfs__shape body;
    fpfs__shape nuc[FPFS__MAXNUC];
    int nnuc, kind; /* 0 spread, 1 round, 2 mitotic */
    double bright, nbright;
} fpfs__cell;

static double fpfs__shape_r(const fpfs__shape *s, double theta) {
    double t = theta * (FPFS__NA / (2 * M_PI));
    int i;
    double f;
    if (t < 0) t += FPFS__NA;
    i = (int)t;
    f = t - i;
    i %= FPFS__NA;
    return s->r[i] * (1 - f) + s->r[(i + 1) % FPFS__NA] * f;
}

/* rho = distance / outline radius in that direction; < 1 inside. */
static double fpfs__rho(const fpfs__shape *s, double x, double y) {
    double dx = x - s->cx, dy = y - s->cy, d = sqrt(dx * dx + dy * dy);
    if (d < 1e-9) return 0;
    return d / fpfs__shape_r(s, atan2(dy, dx));
}

/* Ellipse with semi-axes a, b at angle phi, times (1 + low harmonics + fine edge ruffles),
 * plus protrusion bumps: broad ones (lamellipodia) and, with thin > 0, filopodia spikes. */
static void fpfs__make_shape(fpfs__shape *s, fpfs__rng *g, double cx, double cy, double a, double b, double phi,
                             double harm, int nprot, double prot_amp, double rough, int thin) {
    double amp[20], ph[20], pa[16], pw[16], pc[16];
    int k, i, np = nprot + thin;
    s->cx = cx;
    s->cy = cy;
    for (k = 2; k < 20; k++) {
        amp[k] = (k < 6 ? harm * fpfs__range(g, 0.3, 1.0) / (k - 1) : rough * fpfs__range(g, 0.2, 1.0) * 6.0 / k);
        ph[k] = fpfs__range(g, 0, 2 * M_PI);
    }
    for (k = 0; k < np && k < 16; k++) {
        pc[k] = fpfs__range(g, 0, 2 * M_PI);
        if (k < nprot) { /* lamellipodium */
            pw[k] = fpfs__range(g, 0.06, 0.25);
            pa[k] = prot_amp * fpfs__range(g, 0.4, 1.0);
        } else { /* filopodium: a thin spike a few pixels wide */
            pw[k] = fpfs__range(g, 0.012, 0.03);
            pa[k] = fpfs__range(g, 0.2, 0.55);
        }
    }
    s->rmax = 0;
    for (i = 0; i < FPFS__NA; i++) {
        double t = 2 * M_PI * i / FPFS__NA, c = cos(t - phi), sn = sin(t - phi);
        double r = 1.0 / sqrt(c * c / (a * a) + sn * sn / (b * b)), m = 1.0;
        for (k = 2; k < 20; k++) m += amp[k] * cos(k * t + ph[k]);
        for (k = 0; k < np && k < 16; k++) {
            double d = remainder(t - pc[k], 2 * M_PI);
            m += pa[k] * exp(-d * d / (2 * pw[k] * pw[k]));
        }
        r *= m < 0.3 ? 0.3 : m;
        s->r[i] = (float)r;
        if (r > s->rmax) s->rmax = r;
    }
}

/* Does nucleus shape n lie inside body b with margin (fraction of the body radius)? */
static int fpfs__fits(const fpfs__shape *b, const fpfs__shape *n, double margin) {
    int i;
    for (i = 0; i < FPFS__NA; i += 8) {
        double t = 2 * M_PI * i / FPFS__NA, r = n->r[i];
        if (fpfs__rho(b, n->cx + r * cos(t), n->cy + r * sin(t)) > margin) return 0;
    }
    return 1;
}

static void fpfs__make_cell(fpfs__cell *c, fpfs__rng *g, double cx, double cy, int kind) {
    double phi = fpfs__range(g, 0, 2 * M_PI);
    int tries;
    memset(c, 0, sizeof *c);
    c->kind = kind;
    if (kind == 0) { /* spread macrophage: large, elongated, lobed, with protrusions */
        double R = fpfs__range(g, 42, 72), asp = fpfs__range(g, 1.0, 1.8);
        fpfs__make_shape(&c->body, g, cx, cy, R * sqrt(asp), R / sqrt(asp), phi, fpfs__range(g, 0.08, 0.22),
                         1 + (int)(fpfs__uni(g) * 5), fpfs__range(g, 0.25, 0.7), fpfs__range(g, 0.02, 0.06),
                         (int)(fpfs__uni(g) * 6));
        c->bright = exp(0.3 * fpfs__gauss(g));
    } else { /* round: undifferentiated (1) or mitotic (2) */
        double R = kind == 1 ? fpfs__range(g, 20, 30) : fpfs__range(g, 26, 34);
        fpfs__make_shape(&c->body, g, cx, cy, R, R * fpfs__range(g, 0.88, 1.0), phi, 0.03, 0, 0, 0.008, 0);
        c->bright = (kind == 1 ? 1.6 : 1.9) * exp(0.2 * fpfs__gauss(g));
    }
    c->nbright = exp(0.25 * fpfs__gauss(g)) * (kind == 2 ? 1.7 : 1.0);
    if (kind == 2) { /* two condensed daughter nuclei along a random axis */
        double R = c->body.r[0], ax = fpfs__range(g, 0, M_PI), d = 0.42 * R;
        int k;
        c->nnuc = 2;
        for (k = 0; k < 2; k++) {
            double sx = k ? -1 : 1;
            fpfs__make_shape(&c->nuc[k], g, cx + sx * d * cos(ax), cy + sx * d * sin(ax), 0.34 * R, 0.2 * R,
                             ax + M_PI / 2, 0.1, 0, 0, 0.02, 0);
        }
        return;
    }
    c->nnuc = 1;
    for (tries = 0; tries < 40; tries++) {
        double a = kind == 1 ? c->body.r[0] * fpfs__range(g, 0.55, 0.7) : fpfs__range(g, 14, 21);
        double b = a * fpfs__range(g, 0.68, 1.0), off = fpfs__range(g, 0, 0.35) * c->body.r[0] * (kind == 0);
        double dir = fpfs__range(g, 0, 2 * M_PI);
        double shrink = 1.0 - 0.015 * tries;
        fpfs__make_shape(&c->nuc[0], g, cx + off * cos(dir), cy + off * sin(dir), a * shrink, b * shrink,
                         fpfs__range(g, 0, 2 * M_PI), fpfs__range(g, 0.04, 0.16), (fpfs__uni(g) < 0.25), 0.15, 0.01, 0);
        if (fpfs__fits(&c->body, &c->nuc[0], 0.8)) return;
    }
    /* fall back: a small centred nucleus always fits */
    fpfs__make_shape(&c->nuc[0], g, cx, cy, 8, 7, 0, 0.02, 0, 0, 0, 0);
}

/* ---- placement --------------------------------------------------------------------- */
static int fpfs__place(const fpfs_params *p, fpfs__rng *g, fpfs__cell **cells_out) {
    double area_scale = (double)p->width * p->height / (1280.0 * 1024.0);
    int target = (int)floor(p->cells_per_field * area_scale * fpfs__range(g, 0.85, 1.15) + 0.5), n = 0, guard = 0;
    fpfs__cell *cells;
    if (target < 1) target = 1;
    cells = (fpfs__cell *)calloc((size_t)target, sizeof *cells);
    if (!cells) return -1;
    while (n < target && guard++ < target * 60) {
        int k, size = 1, first = n;
        double u = fpfs__uni(g);
        /* geometric-like cluster sizes with mean ~ cluster_mean */
        while (size < 6 && fpfs__uni(g) < 1.0 - 1.0 / p->cluster_mean) size++;
        (void)u;
        for (k = 0; k < size && n < target; k++) {
            int kind = 0, tries, ok = 0;
            double v = fpfs__uni(g);
            if (v < p->mitotic_fraction) kind = 2;
            else if (v < p->mitotic_fraction + p->round_fraction) kind = 1;
            for (tries = 0; tries < 30 && !ok; tries++) {
                double x, y;
                int j;
                if (k == 0) { /* cluster seed: anywhere, also partly outside the field */
                    x = fpfs__range(g, -0.04, 1.04) * p->width;
                    y = fpfs__range(g, -0.04, 1.04) * p->height;
                } else { /* against a random member of this cluster */
                    const fpfs__cell *m = &cells[first + (int)(fpfs__uni(g) * (n - first))];
                    double a = fpfs__range(g, 0, 2 * M_PI), rm = fpfs__shape_r(&m->body, a);
                    double d = rm + (kind == 0 ? 45 : 24) * fpfs__range(g, 0.55, 0.95);
                    x = m->body.cx + d * cos(a);
                    y = m->body.cy + d * sin(a);
                }
                fpfs__make_cell(&cells[n], g, x, y, kind);
                ok = 1;
                for (j = 0; j < n && ok; j++) {
                    const fpfs__cell *o = &cells[j];
                    double dx = o->body.cx - x, dy = o->body.cy - y, d = sqrt(dx * dx + dy * dy);
                    int a, b;
                    /* centres not too close (cells would swallow each other) */
                    if (d < 0.55 * (o->body.rmax + cells[n].body.rmax) && (j < first || d < 30)) ok = 0;
                    if (d < 28) ok = 0;
                    /* an unrelated cell must not overlap much: keeps clusters separate */
                    if (j < first && d < 0.8 * (o->body.rmax + cells[n].body.rmax)) ok = 0;
                    /* nuclei may touch but not overlap deeply */
                    for (a = 0; a < o->nnuc && ok; a++)
                        for (b = 0; b < cells[n].nnuc && ok; b++) {
                            double ex = o->nuc[a].cx - cells[n].nuc[b].cx, ey = o->nuc[a].cy - cells[n].nuc[b].cy;
                            if (sqrt(ex * ex + ey * ey) < 0.8 * (o->nuc[a].rmax + cells[n].nuc[b].rmax)) ok = 0;
                        }
                }
            }
            if (ok) n++;
            else break;
        }
    }
    *cells_out = cells;
    return n;
}

/* ---- labels ------------------------------------------------------------------------ */
/* Paint each shape where its rho is the smallest so far; mask restricts to parent cells. */
static void fpfs__paint(const fpfs__shape *s, int id, int w, int h, float *best, int *lab, const int *mask,
                        int parent) {
    int x0 = (int)floor(s->cx - s->rmax - 1), x1 = (int)ceil(s->cx + s->rmax + 1);
    int y0 = (int)floor(s->cy - s->rmax - 1), y1 = (int)ceil(s->cy + s->rmax + 1), x, y;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w - 1) x1 = w - 1;
    if (y1 > h - 1) y1 = h - 1;
    for (y = y0; y <= y1; y++)
        for (x = x0; x <= x1; x++) {
            size_t i = (size_t)y * w + x;
            double rho = fpfs__rho(s, x, y);
            if (rho < 1.0 && rho < best[i] && (!mask || mask[i] == parent)) {
                best[i] = (float)rho;
                lab[i] = id;
            }
        }
}

/* Keep ids with at least minpx pixels, renumber 1.. in id order; returns the count. */
static int fpfs__compact(int *lab, size_t n, int nid, int minpx, int *newid) {
    long *cnt = (long *)calloc((size_t)nid + 1, sizeof *cnt);
    size_t i;
    int k, m = 0;
    if (!cnt) return -1;
    for (i = 0; i < n; i++) cnt[lab[i]]++;
    newid[0] = 0;
    for (k = 1; k <= nid; k++) newid[k] = cnt[k] >= minpx ? ++m : 0;
    for (i = 0; i < n; i++) lab[i] = newid[lab[i]];
    free(cnt);
    return m;
}

/* ---- rendering helpers ------------------------------------------------------------- */
static void fpfs__blur(float *img, int w, int h, double sigma) {
    int r = (int)ceil(3 * sigma), x, y, k;
    float *tmp = (float *)malloc(sizeof(float) * (size_t)(w > h ? w : h));
    double *ker = (double *)malloc(sizeof(double) * (size_t)(2 * r + 1)), sum = 0;
    if (!tmp || !ker) { free(tmp); free(ker); return; }
    for (k = -r; k <= r; k++) sum += ker[k + r] = exp(-k * k / (2 * sigma * sigma));
    for (k = 0; k <= 2 * r; k++) ker[k] /= sum;
    for (y = 0; y < h; y++) { /* rows, edges clamped */
        float *row = img + (size_t)y * w;
        for (x = 0; x < w; x++) {
            double a = 0;
            for (k = -r; k <= r; k++) {
                int xx = x + k < 0 ? 0 : x + k >= w ? w - 1 : x + k;
                a += ker[k + r] * row[xx];
            }
            tmp[x] = (float)a;
        }
        memcpy(row, tmp, sizeof(float) * (size_t)w);
    }
    { /* columns, computed a whole row at a time so memory is read in order */
        float *src = (float *)malloc(sizeof(float) * (size_t)w * h);
        if (!src) { free(tmp); free(ker); return; }
        memcpy(src, img, sizeof(float) * (size_t)w * h);
        for (y = 0; y < h; y++) {
            float *dst = img + (size_t)y * w;
            for (x = 0; x < w; x++) dst[x] = 0;
            for (k = -r; k <= r; k++) {
                int yy = y + k < 0 ? 0 : y + k >= h ? h - 1 : y + k;
                const float *row = src + (size_t)yy * w;
                float kk = (float)ker[k + r];
                for (x = 0; x < w; x++) dst[x] += kk * row[x];
            }
        }
        free(src);
    }
    free(tmp);
    free(ker);
}

/* Three passes of a running box filter of radius r approximate a Gaussian of
 * sigma = sqrt(3 ((2r+1)^2 - 1) / 12) at a cost independent of r (used for glow). */
static void fpfs__boxblur3(float *img, int w, int h, int r) {
    int pass, x, y;
    double *acc = (double *)malloc(sizeof(double) * (size_t)(w + 1));
    double *col = (double *)malloc(sizeof(double) * (size_t)w * (h + 1));
    float *line = (float *)malloc(sizeof(float) * (size_t)w);
    if (!acc || !col || !line) { free(acc); free(col); free(line); return; }
    for (pass = 0; pass < 3; pass++) {
        for (y = 0; y < h; y++) { /* rows: running sums along x */
            float *row = img + (size_t)y * w;
            acc[0] = 0;
            for (x = 0; x < w; x++) acc[x + 1] = acc[x] + row[x];
            for (x = 0; x < w; x++) {
                int lo = x - r < 0 ? 0 : x - r, hi = x + r + 1 > w ? w : x + r + 1;
                line[x] = (float)((acc[hi] - acc[lo]) / (hi - lo));
            }
            memcpy(row, line, sizeof(float) * (size_t)w);
        }
        /* columns: prefix sums over whole rows, read in memory order */
        for (x = 0; x < w; x++) col[x] = 0;
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) col[(size_t)(y + 1) * w + x] = col[(size_t)y * w + x] + img[(size_t)y * w + x];
        for (y = 0; y < h; y++) {
            int lo = y - r < 0 ? 0 : y - r, hi = y + r + 1 > h ? h : y + r + 1;
            const double *a = col + (size_t)hi * w, *b = col + (size_t)lo * w;
            for (x = 0; x < w; x++) img[(size_t)y * w + x] = (float)((a[x] - b[x]) / (hi - lo));
        }
    }
    free(acc);
    free(col);
    free(line);
}

/* Camera: signal (ADU above offset) -> electrons -> Poisson -> + read noise + offset, 12 bit. */
static void fpfs__camera(const float *sig, uint16_t *out, size_t n, fpfs__rng *g) {
    const double gain = 0.5 /* ADU per electron */, offset = 100, read_sd = 2.5;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = sig[i] > 0 ? sig[i] / gain : 0, v;
        if (e >= 30) /* Poisson ~ normal here: shot and read noise add as one normal draw */
            v = e * gain + offset + sqrt(e * gain * gain + read_sd * read_sd) * fpfs__gauss(g);
        else
            v = fpfs__poisson(g, e) * gain + offset + read_sd * fpfs__gauss(g);
        v = floor(v + 0.5);
        out[i] = (uint16_t)(v < 0 ? 0 : v > 4095 ? 4095 : v);
    }
}

void fpfs_default_params(fpfs_params *p) {
    p->width = 1280;
    p->height = 1024;
    p->seed = 1;
    p->cells_per_field = 36; /* placement rejects some; the mean field ends near 32 */
    p->round_fraction = 0.12;
    p->mitotic_fraction = 0.05;
    p->cluster_mean = 2.2;
}

void fpfs_free(fpfs_scene *s) {
    if (!s) return;
    free(s->nucleus); free(s->cell); free(s->cell_labels); free(s->nuc_labels);
    free(s->nuc_to_cell); free(s->cell_kind);
    memset(s, 0, sizeof *s);
}

/* The buffers of one fpfs_generate: cells as placed, per-pixel ownership and the signals. */
typedef struct fpfs__work {
    int w, h, ncell, nn;             /* nn: nuclei placed (before small ones are dropped) */
    size_t n;                        /* w * h */
    uint64_t tex;                    /* texture seed */
    fpfs__cell *cells;
    float *best, *nbest;             /* smallest rho so far of each pixel: cells, nuclei */
    int *lab, *nlab;                 /* cell / nucleus label of each pixel (0 = none) */
    int *cellid, *nucid, *nucparent; /* placed index -> final label; nucleus -> its cell */
    const fpfs__shape **nshape;
    float *cyto, *nuc;               /* noise-free signals in ADU above the camera offset */
} fpfs__work;

static void fpfs__work_free(fpfs__work *k) {
    free(k->cells); free(k->best); free(k->nbest); free(k->lab); free(k->nlab); free(k->cellid);
    free(k->nucid); free(k->nucparent); free(k->nshape); free(k->cyto); free(k->nuc);
}

static int fpfs__work_alloc(fpfs__work *k, fpfs_scene *s) {
    size_t n = k->n, m = (size_t)k->ncell * FPFS__MAXNUC + 1;
    k->best = (float *)malloc(n * sizeof *k->best);
    k->nbest = (float *)malloc(n * sizeof *k->nbest);
    k->lab = (int *)calloc(n, sizeof *k->lab);
    k->nlab = (int *)calloc(n, sizeof *k->nlab);
    k->cellid = (int *)malloc(((size_t)k->ncell + 1) * sizeof *k->cellid);
    k->nucid = (int *)malloc(m * sizeof *k->nucid);
    k->nucparent = (int *)malloc(m * sizeof *k->nucparent);
    k->nshape = (const fpfs__shape **)malloc(m * sizeof *k->nshape);
    k->cyto = (float *)calloc(n, sizeof *k->cyto);
    k->nuc = (float *)calloc(n, sizeof *k->nuc);
    s->nucleus = (uint16_t *)malloc(n * 2);
    s->cell = (uint16_t *)malloc(n * 2);
    s->cell_labels = (uint16_t *)malloc(n * 2);
    s->nuc_labels = (uint16_t *)malloc(n * 2);
    return k->best && k->nbest && k->lab && k->nlab && k->cellid && k->nucid && k->nucparent && k->nshape &&
                   k->cyto && k->nuc && s->nucleus && s->cell && s->cell_labels && s->nuc_labels
               ? 0 : -1;
}

/* 2. labels: cells compete by rho, then nuclei inside their own cell; small pieces dropped. */
static int fpfs__label(fpfs__work *k, fpfs_scene *s) {
    int i, b, w = k->w, h = k->h;
    size_t j;
    for (j = 0; j < k->n; j++) k->best[j] = k->nbest[j] = 2.0f;
    for (i = 0; i < k->ncell; i++) fpfs__paint(&k->cells[i].body, i + 1, w, h, k->best, k->lab, NULL, 0);
    if (fpfs__compact(k->lab, k->n, k->ncell, 60, k->cellid) < 0) return -1;
    for (i = 0; i < k->ncell; i++)
        for (b = 0; b < k->cells[i].nnuc; b++) {
            int id = k->cellid[i + 1];
            k->nn++;
            k->nshape[k->nn] = &k->cells[i].nuc[b];
            k->nucparent[k->nn] = id;
            if (id) fpfs__paint(&k->cells[i].nuc[b], k->nn, w, h, k->nbest, k->nlab, k->lab, id);
        }
    if (fpfs__compact(k->nlab, k->n, k->nn, 25, k->nucid) < 0) return -1;
    s->ncells = 0;
    for (i = 1; i <= k->ncell; i++) if (k->cellid[i] > s->ncells) s->ncells = k->cellid[i];
    s->nnuclei = 0;
    for (i = 1; i <= k->nn; i++) if (k->nucid[i] > s->nnuclei) s->nnuclei = k->nucid[i];
    s->nuc_to_cell = (int *)calloc((size_t)s->nnuclei + 1, sizeof(int));
    s->cell_kind = (int *)calloc((size_t)s->ncells + 1, sizeof(int));
    if (!s->nuc_to_cell || !s->cell_kind) return -1;
    for (i = 1; i <= k->nn; i++) if (k->nucid[i]) s->nuc_to_cell[k->nucid[i] - 1] = k->nucparent[i];
    for (i = 0; i < k->ncell; i++) if (k->cellid[i + 1]) s->cell_kind[k->cellid[i + 1] - 1] = k->cells[i].kind;
    return 0;
}

/* Cytoplasm at pixel q = (x, y) of cell cc (label c). */
static double fpfs__cyto_at(const fpfs__work *k, const fpfs__cell *cc, int c, int x, int y) {
    size_t q = (size_t)y * k->w + x;
    const int *lab = k->lab;
    int b, w = k->w, border;
    double rho = k->best[q], dn = 1e9, f, t, v;
    for (b = 0; b < cc->nnuc; b++) {
        double r = fpfs__rho(&cc->nuc[b], x, y);
        if (r < dn) dn = r;
    }
    /* brighter around the nucleus (thick perinuclear cytoplasm), fading to the edge */
    f = 0.18 + 0.5 * exp(-(dn - 1) * (dn - 1) / 2.0) * (dn > 1 ? 1 : 0.85) + 0.35 * pow(1 - rho, 0.6);
    if (cc->kind) f = 0.55 + 0.45 * pow(1 - rho, 0.4);
    t = 1 + 0.35 * fpfs__fbm(k->tex + 11, x, y, 9, 3) + 0.25 * fpfs__fbm(k->tex + 23, x, y, 2.5, 2);
    v = fpfs__fbm(k->tex + 29, x, y, 4, 2);
    if (v > 0.2) t *= 0.55;        /* vacuoles: dark holes */
    else if (v < -0.24) t *= 1.45; /* bright vesicles */
    /* a faint dimming where two cells touch */
    border = (x > 0 && lab[q - 1] && lab[q - 1] != c) || (x < w - 1 && lab[q + 1] && lab[q + 1] != c) ||
             (y > 0 && lab[q - w] && lab[q - w] != c) || (y < k->h - 1 && lab[q + w] && lab[q + w] != c);
    return 520 * cc->bright * f * t * (border ? 0.72 : 1.0);
}

/* Nucleus at pixel (x, y) of cell cc: textured chromatin, slightly dimmer rim, bright chromocentres. */
static double fpfs__nuc_at(const fpfs__work *k, const fpfs__cell *cc, int x, int y) {
    double rho = k->nbest[(size_t)y * k->w + x], t;
    t = 1 + 0.45 * fpfs__fbm(k->tex + 37, x, y, 6, 3) + 0.3 * fpfs__fbm(k->tex + 41, x, y, 2, 1);
    if (fpfs__fbm(k->tex + 53, x, y, 3, 2) > 0.22) t += 0.9;
    return 1500 * cc->nbright * (0.8 + 0.2 * (1 - rho * rho)) * t;
}

/* 3. rendering: the noise-free signals of every labelled pixel. */
static int fpfs__render(fpfs__work *k, const fpfs_scene *s) {
    int i, x, y;
    int *cellof = (int *)calloc((size_t)s->ncells + 1, sizeof(int)); /* final cell label -> placed cell */
    if (!cellof) return -1;
    for (i = 0; i < k->ncell; i++) if (k->cellid[i + 1]) cellof[k->cellid[i + 1]] = i;
    for (y = 0; y < k->h; y++)
        for (x = 0; x < k->w; x++) {
            size_t q = (size_t)y * k->w + x;
            int c = k->lab[q];
            if (c) k->cyto[q] = (float)fpfs__cyto_at(k, &k->cells[cellof[c]], c, x, y);
            if (k->nlab[q]) k->nuc[q] = (float)fpfs__nuc_at(k, &k->cells[cellof[c]], x, y);
        }
    free(cellof);
    return 0;
}

/* Blur: a slightly defocused 20x objective, plus out-of-focus glow. */
static int fpfs__defocus(fpfs__work *k) {
    size_t j, n = k->n;
    float *glow = (float *)malloc(n * sizeof *glow);
    if (!glow) return -1;
    memcpy(glow, k->cyto, n * sizeof *glow);
    fpfs__boxblur3(glow, k->w, k->h, 10);
    fpfs__blur(k->cyto, k->w, k->h, 1.7);
    for (j = 0; j < n; j++) k->cyto[j] = 0.88f * k->cyto[j] + 0.12f * glow[j] + 0.02f * k->nuc[j];
    memcpy(glow, k->nuc, n * sizeof *glow);
    fpfs__boxblur3(glow, k->w, k->h, 8);
    fpfs__blur(k->nuc, k->w, k->h, 1.4);
    for (j = 0; j < n; j++) k->nuc[j] = 0.92f * k->nuc[j] + 0.08f * glow[j];
    free(glow);
    return 0;
}

/* Illumination falls off from an off-centre optical axis; the background varies slowly. */
static void fpfs__illuminate(fpfs__work *k, fpfs__rng *g) {
    int x, y, w = k->w, h = k->h;
    double vx = w * fpfs__range(g, 0.35, 0.65), vy = h * fpfs__range(g, 0.35, 0.65);
    double vr = sqrt((double)w * w + (double)h * h) * 0.6;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            size_t q = (size_t)y * w + x;
            double d2 = ((x - vx) * (x - vx) + (y - vy) * (y - vy)) / (vr * vr);
            double ill = 1 - 0.35 * d2, bg = fpfs__fbm(k->tex + 71, x, y, 300, 2);
            k->nuc[q] = (float)(k->nuc[q] * ill + 22 * (1 + 0.6 * bg) * ill);
            k->cyto[q] = (float)(k->cyto[q] * ill + 45 * (1 + 0.8 * bg) * ill);
        }
}

int fpfs_generate(const fpfs_params *p, fpfs_scene *s) {
    fpfs__work k;
    fpfs__rng g;
    size_t j;
    memset(s, 0, sizeof *s);
    memset(&k, 0, sizeof k);
    if (p->width < 16 || p->height < 16 || p->width > 16384 || p->height > 16384) return -1;
    k.w = s->w = p->width; k.h = s->h = p->height; k.n = (size_t)k.w * k.h;
    g.s = p->seed * 0x2545F4914F6CDD1Dull + 0x1234567ull;
    k.tex = fpfs__next(&g);
    if ((k.ncell = fpfs__place(p, &g, &k.cells)) < 0) return -1;               /* 1. cells */
    if (fpfs__work_alloc(&k, s) || fpfs__label(&k, s) || fpfs__render(&k, s) || /* 2., 3. */
        fpfs__defocus(&k)) {
        fpfs__work_free(&k);
        fpfs_free(s);
        return -1;
    }
    fpfs__illuminate(&k, &g);
    fpfs__camera(k.nuc, s->nucleus, k.n, &g);                                  /* noise, 12 bits */
    fpfs__camera(k.cyto, s->cell, k.n, &g);
    for (j = 0; j < k.n; j++) {
        s->cell_labels[j] = (uint16_t)k.lab[j];
        s->nuc_labels[j] = (uint16_t)k.nlab[j];
    }
    fpfs__work_free(&k);
    return 0;
}

int fpfs_crop(const fpfs_scene *s, int x0, int y0, int w, int h, fpfs_scene *o) {
    int *cmap = (int *)calloc((size_t)s->ncells + 1, sizeof(int)), *nmap = (int *)calloc((size_t)s->nnuclei + 1, sizeof(int));
    int x, y, nc = 0, nnu = 0, k;
    size_t n = (size_t)w * h;
    memset(o, 0, sizeof *o);
    if (!cmap || !nmap || x0 < 0 || y0 < 0 || x0 + w > s->w || y0 + h > s->h) { free(cmap); free(nmap); return -1; }
    o->w = w; o->h = h;
    o->nucleus = (uint16_t *)malloc(n * 2); o->cell = (uint16_t *)malloc(n * 2);
    o->cell_labels = (uint16_t *)malloc(n * 2); o->nuc_labels = (uint16_t *)malloc(n * 2);
    if (!o->nucleus || !o->cell || !o->cell_labels || !o->nuc_labels) { free(cmap); free(nmap); fpfs_free(o); return -1; }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            size_t si = (size_t)(y + y0) * s->w + (x + x0), di = (size_t)y * w + x;
            int c = s->cell_labels[si], nu = s->nuc_labels[si];
            if (c && !cmap[c]) cmap[c] = ++nc;
            if (nu && !nmap[nu]) nmap[nu] = ++nnu;
            o->nucleus[di] = s->nucleus[si];
            o->cell[di] = s->cell[si];
            o->cell_labels[di] = (uint16_t)cmap[c];
            o->nuc_labels[di] = (uint16_t)nmap[nu];
        }
    o->ncells = nc;
    o->nnuclei = nnu;
    o->nuc_to_cell = (int *)calloc((size_t)nnu + 1, sizeof(int));
    o->cell_kind = (int *)calloc((size_t)nc + 1, sizeof(int));
    if (!o->nuc_to_cell || !o->cell_kind) { free(cmap); free(nmap); fpfs_free(o); return -1; }
    for (k = 1; k <= s->nnuclei; k++)
        if (nmap[k]) o->nuc_to_cell[nmap[k] - 1] = cmap[s->nuc_to_cell[k - 1]];
    for (k = 1; k <= s->ncells; k++)
        if (cmap[k]) o->cell_kind[cmap[k] - 1] = s->cell_kind[k - 1];
    free(cmap);
    free(nmap);
    return 0;
}

/* ---- overlay picture ----------------------------------------------------------------- */
static void fpfs__range16(const uint16_t *v, size_t n, double *lo, double *hi) {
    static long hist[4096];
    size_t i;
    long acc = 0;
    int k;
    memset(hist, 0, sizeof hist);
    for (i = 0; i < n; i++) hist[v[i] > 4095 ? 4095 : v[i]]++;
    *lo = 0;
    *hi = 4095;
    for (k = 0; k < 4096; k++) { acc += hist[k]; if (acc >= (long)(n * 0.005)) { *lo = k; break; } }
    acc = 0;
    for (k = 4095; k >= 0; k--) { acc += hist[k]; if (acc >= (long)(n * 0.002) + 1) { *hi = k; break; } }
    if (*hi <= *lo) *hi = *lo + 1;
}

void fpfs_overlay(const fpfs_scene *s, unsigned char *rgb, int outlines) {
    size_t n = (size_t)s->w * s->h, i;
    double nlo, nhi, clo, chi;
    int x, y;
    fpfs__range16(s->nucleus, n, &nlo, &nhi);
    fpfs__range16(s->cell, n, &clo, &chi);
    for (i = 0; i < n; i++) {
        double b = (s->nucleus[i] - nlo) / (nhi - nlo), r = (s->cell[i] - clo) / (chi - clo);
        b = b < 0 ? 0 : b > 1 ? 1 : pow(b, 0.8);
        r = r < 0 ? 0 : r > 1 ? 1 : pow(r, 0.8);
        rgb[3 * i] = (unsigned char)(255 * r + 0.5);
        rgb[3 * i + 1] = (unsigned char)(40 * b * r + 0.5);
        rgb[3 * i + 2] = (unsigned char)(255 * b + 0.5);
    }
    if (!outlines) return;
    for (y = 0; y < s->h; y++)
        for (x = 0; x < s->w; x++) {
            size_t q = (size_t)y * s->w + x;
            int c = s->cell_labels[q], nu = s->nuc_labels[q];
            int cb = c && ((x + 1 < s->w && s->cell_labels[q + 1] != c) || (y + 1 < s->h && s->cell_labels[q + s->w] != c) ||
                           (x > 0 && s->cell_labels[q - 1] != c) || (y > 0 && s->cell_labels[q - s->w] != c));
            int nb = nu && ((x + 1 < s->w && s->nuc_labels[q + 1] != nu) || (y + 1 < s->h && s->nuc_labels[q + s->w] != nu) ||
                            (x > 0 && s->nuc_labels[q - 1] != nu) || (y > 0 && s->nuc_labels[q - s->w] != nu));
            if (cb) { rgb[3 * q] = 255; rgb[3 * q + 1] = 230; rgb[3 * q + 2] = 0; }      /* cells: yellow */
            else if (nb) { rgb[3 * q] = 0; rgb[3 * q + 1] = 255; rgb[3 * q + 2] = 255; } /* nuclei: cyan */
        }
}

/* One bacterium: a rod at (cx, cy), angle th, painted into sig where the cell label is c.
 * Returns the pixels painted. */
static int fpfs__rod(const fpfs_scene *s, float *sig, int c, double cx, double cy, double th, double len,
                     double wid, double amp) {
    int x, y, r = (int)ceil(len) + 1, painted = 0;
    double co = cos(th), si = sin(th);
    for (y = (int)cy - r; y <= (int)cy + r; y++)
        for (x = (int)cx - r; x <= (int)cx + r; x++) {
            double dx = x - cx, dy = y - cy, u = dx * co + dy * si, v = -dx * si + dy * co;
            if (x < 0 || y < 0 || x >= s->w || y >= s->h || s->cell_labels[(size_t)y * s->w + x] != c) continue;
            if ((u / len) * (u / len) + (v / wid) * (v / wid) > 1) continue;
            sig[(size_t)y * s->w + x] += (float)amp;
            painted++;
        }
    return painted;
}

/* Is every pixel within r (a square) of (x, y) in the image and in cell c? */
static int fpfs__inside(const fpfs_scene *s, int c, int x, int y, int r) {
    int yy, xx;
    if (x - r < 0 || y - r < 0 || x + r >= s->w || y + r >= s->h) return 0;
    for (yy = y - r; yy <= y + r; yy++)
        for (xx = x - r; xx <= x + r; xx++)
            if (s->cell_labels[(size_t)yy * s->w + xx] != c) return 0;
    return 1;
}

int fpfs_reporter(const fpfs_scene *s, uint64_t seed, double fraction, uint16_t **image, int **infected) {
    size_t n = (size_t)s->w * s->h;
    float *sig = (float *)calloc(n, sizeof *sig);
    int *inf = (int *)calloc((size_t)s->ncells + 1, sizeof *inf), *box = (int *)malloc(((size_t)s->ncells + 1) * 4 * sizeof *box);
    uint16_t *out = (uint16_t *)malloc(n * sizeof *out);
    fpfs__rng g;
    int c, x, y;
    *image = NULL; *infected = NULL;
    if (!sig || !inf || !box || !out) { free(sig); free(inf); free(box); free(out); return -1; }
    g.s = seed * 0x9E3779B97F4A7C15ull + 0x5151ull;
    for (c = 1; c <= s->ncells; c++) { box[4 * c] = s->w; box[4 * c + 1] = s->h; box[4 * c + 2] = box[4 * c + 3] = -1; }
    for (y = 0; y < s->h; y++) /* bounding boxes, and the faint glow of every cell */
        for (x = 0; x < s->w; x++) {
            int l = s->cell_labels[(size_t)y * s->w + x];
            sig[(size_t)y * s->w + x] = l ? 26.0f : 20.0f;
            if (!l) continue;
            if (x < box[4 * l]) box[4 * l] = x;
            if (y < box[4 * l + 1]) box[4 * l + 1] = y;
            if (x > box[4 * l + 2]) box[4 * l + 2] = x;
            if (y > box[4 * l + 3]) box[4 * l + 3] = y;
        }
    for (c = 1; c <= s->ncells; c++) {
        int nb, b, tries;
        if (fpfs__uni(&g) >= fraction) continue;
        nb = 1 + (int)(fpfs__uni(&g) * 4);
        for (b = 0; b < nb; b++) {
            double cx = 0, cy = 0, th = fpfs__range(&g, 0, M_PI), len = fpfs__range(&g, 2.5, 5.0);
            double amp = fpfs__range(&g, 500, 1100);
            for (tries = 0; tries < 200; tries++) { /* a cytoplasm pixel of cell c, the rod's reach inside c */
                size_t q;
                cx = fpfs__range(&g, box[4 * c], box[4 * c + 2] + 1);
                cy = fpfs__range(&g, box[4 * c + 1], box[4 * c + 3] + 1);
                q = (size_t)(int)cy * s->w + (size_t)(int)cx;
                if (s->cell_labels[q] == c && (!s->nuc_labels[q] || tries > 150) && fpfs__inside(s, c, (int)cx, (int)cy, (int)len + 3))
                    break;
            }
            if (tries == 200) continue;
            if (fpfs__rod(s, sig, c, cx, cy, th, len, 1.3, amp) >= 3) inf[c - 1] = 1;
        }
    }
    fpfs__blur(sig, s->w, s->h, 1.0);
    fpfs__camera(sig, out, n, &g);
    free(sig); free(box);
    *image = out; *infected = inf;
    return 0;
}
#endif /* FPF_SYNTH_IMPLEMENTATION */
#endif /* FPF_SYNTH_H */

/* fpf_walkthrough - one image pair through the network, printed (and drawn) stage by stage.
 *
 *   build/fpf_walkthrough [--model M.fpf] [--cell C.tif] [--nucleus N.tif] [--draw DIR] [--threads N]
 *
 * Defaults: the shipped FPF-concat model and the shipped synthetic field (weights/models/). For
 * every tensor that fpf.h hands to its stage callback (fpf_options.stage) it prints the name, the
 * shape, the value range and the time the stage took; with --draw DIR it writes PNGs of them.
 * Read it beside docs/ARCHITECTURE.md: the § column says where each stage is explained.
 *
 * What the callback shows, and what it does not:
 *   - each tower's C1 (the stem's output) .. C5 and P2..P5; there is no per-tower P6, because P6 is taken from the
 *     fused P5 (F6). With FPF-add the cell tower adds its P2..P5 straight onto the nucleus
 *     pyramid, so only F2..F6 (the sums) are shown for it; FPF-concat (the default) shows both
 *     towers' pyramids and puts them side by side in F.
 *   - the stem's conv1 and C1, the FPN's top-down sums and the RPN's 3×3 conv are not exposed
 *     (they are made in bands of rows and never exist whole).
 *   - a single-tower model names its tower "cell" (the nucleus model "cores" too).
 * The clock runs from the end of one callback to the start of the next, so drawing is not timed;
 * a stage's time is everything fpf.h did since the previous tensor. Some steps hand over several
 * tensors at once (C2 includes the stem; the FPN gives P2..P5 together, the RPN rpn_class and
 * rpn_bbox, the box head mrcnn_class and mrcnn_bbox): the first carries the time, the rest ~0. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_image.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

typedef struct walk {
    const char *draw;       /* output folder, or NULL */
    int h, w, Hp, Wp;       /* image and padded size */
    unsigned char *bg;      /* the main input as 8-bit gray [h][w], background of the box pictures */
    double t_prev, t_sum;   /* end of the previous callback; the stage times so far */
    int n0;                 /* detections before unmolding (rows of mrcnn_mask) */
    int fpn_width;          /* one tower's pyramid depth */
} walk;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "fpf_walkthrough: error: %s: %s\n", what, why);
    exit(1);
}

/* ------------------------------------------------------------------ what each tensor is */

static const char *what_is(const char *name) {
    static const char *tab[][2] = {
        {"mold", "molded input (x − 112.5) / 255, padded to 64 (§4.3)"},
        {"C1", "stem: 7×7/2 conv, BN, ReLU, 3×3/2 max-pool (§2.1)"},
        {"C", "backbone stage output (§2.1)"},
        {"P", "FPN output after the 3×3 smoothing (§3)"},
        {"F", "fused pyramid: add or concat, F6 = F5[::2, ::2] (§4.1, §3)"},
        {"anchors", "anchors, normalized (§5)"},
        {"rpn_class", "RPN [bg, fg] probabilities per anchor (§6.1)"},
        {"rpn_bbox", "RPN deltas per anchor (§6.1)"},
        {"rpn_rois", "proposals: top-k, deltas, clip, NMS 0.7, zero-padded (§6.2)"},
        {"roi_feat", "RoIAlign 7×7 of every proposal (§7)"},
        {"mrcnn_class", "box head class probabilities (§8)"},
        {"mrcnn_bbox", "box head deltas per class (§8)"},
        {"detections", "detection layer rows y1 x1 y2 x2 class score (§9)"},
        {"mask_feat", "RoIAlign 14×14 of the detections (§7, §10.1)"},
        {"mrcnn_mask", "mask head sigmoid masks (§10.1)"}};
    const char *dot = strchr(name, '.');
    const char *base = dot ? dot + 1 : name;
    size_t i;
    for (i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strncmp(base, tab[i][0], strlen(tab[i][0])) && (strlen(tab[i][0]) > 1 || strlen(base) == 2))
            return tab[i][1];
    return "";
}

/* ------------------------------------------------------------------ pictures */

static int is_map(const char *name) {      /* C1..C5, P2..P5 of a tower, F2..F6 */
    const char *base = strchr(name, '.') ? strchr(name, '.') + 1 : name;
    return strlen(base) == 2 && (base[0] == 'C' || base[0] == 'P' || base[0] == 'F');
}

static void save(const walk *wk, const char *name, int w, int h, const unsigned char *rgb) {
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s.png", wk->draw, name);
    if (fpfi_write_png_rgb(path, w, h, rgb, err, sizeof err) != 0) die(path, err);
}

static double at(const float *d, int ld, size_t pixel, int ch) { return d[pixel * (size_t)ld + ch]; }

/* Writes to pick[n..n+k) the k channels in [c0, c1) of largest variance, the ones with something
   to see, best first; returns the new count. */
static int pick_channels(const float *d, int ld, size_t np, int c0, int c1, int k, int *pick, int n) {
    double best[4] = {-1, -1, -1, -1};
    int ch, j, got = 0;
    size_t p;
    for (ch = c0; ch < c1; ch++) {
        double s = 0, s2 = 0, v;
        for (p = 0; p < np; p++) { v = at(d, ld, p, ch); s += v; s2 += v * v; }
        v = s2 / np - (s / np) * (s / np);
        for (j = 0; j < k; j++)
            if (v > best[j]) {
                memmove(best + j + 1, best + j, (size_t)(k - 1 - j) * sizeof best[0]);
                memmove(pick + n + j + 1, pick + n + j, (size_t)(k - 1 - j) * sizeof pick[0]);
                best[j] = v; pick[n + j] = ch;
                if (got < k) got++;
                break;
            }
    }
    return n + got;
}

/* Up to 4 channels of an [h, w, c] map side by side, each scaled to its own min..max. A
   concatenated F map shows 2 channels of each half: the cell tower's and the nucleus tower's. */
static void draw_map(const walk *wk, const char *name, const float *d, int h, int w, int c, int ld) {
    int pick[4] = {0, 0, 0, 0}, n = 0, k, y, x, zoom = h < 128 ? (128 + h - 1) / h : 1;
    size_t p, np = (size_t)h * w;
    int W, H = h * zoom;
    unsigned char *rgb;
    if (name[0] == 'F' && c == 2 * wk->fpn_width) {
        n = pick_channels(d, ld, np, 0, c / 2, 2, pick, 0);
        n = pick_channels(d, ld, np, c / 2, c, 2, pick, n);
    } else {
        n = pick_channels(d, ld, np, 0, c, c < 4 ? c : 4, pick, 0);
    }
    W = n * (w * zoom + 4);
    rgb = (unsigned char *)calloc((size_t)W * H * 3, 1);
    printf("%18s channels", "");
    for (k = 0; k < n; k++) {
        double lo = 1e30, hi = -1e30, v;
        for (p = 0; p < np; p++) { v = at(d, ld, p, pick[k]); lo = v < lo ? v : lo; hi = v > hi ? v : hi; }
        printf(" %d", pick[k]);
        for (y = 0; y < H; y++)
            for (x = 0; x < w * zoom; x++) {
                v = at(d, ld, (size_t)(y / zoom) * w + x / zoom, pick[k]);
                memset(rgb + ((size_t)y * W + k * (w * zoom + 4) + x) * 3,
                       (int)(hi > lo ? 255.0 * (v - lo) / (hi - lo) : 0), 3);
            }
    }
    printf(" drawn to %s.png\n", name);
    save(wk, name, W, H, rgb);
    free(rgb);
}

static void color(int i, unsigned char c[3]) {
    static const unsigned char pal[6][3] = {{255, 80, 80}, {80, 255, 80}, {80, 160, 255},
                                            {255, 220, 40}, {255, 80, 255}, {40, 240, 240}};
    memcpy(c, pal[i % 6], 3);
}

static unsigned char *background(const walk *wk) {
    unsigned char *rgb = (unsigned char *)malloc((size_t)wk->h * wk->w * 3);
    size_t p;
    for (p = 0; p < (size_t)wk->h * wk->w; p++) memset(rgb + 3 * p, wk->bg[p] / 2, 3);
    return rgb;
}

/* The outline of a normalized box, y = b·(Hp − 1) rounded (the exact rule: §10.2 step 4). */
static void draw_box(const walk *wk, unsigned char *rgb, const float *b, const unsigned char c[3]) {
    int y1 = (int)(b[0] * (wk->Hp - 1) + 0.5f), x1 = (int)(b[1] * (wk->Wp - 1) + 0.5f);
    int y2 = (int)(b[2] * (wk->Hp - 1) + 0.5f), x2 = (int)(b[3] * (wk->Wp - 1) + 0.5f), y, x;
    for (y = y1; y <= y2; y++)
        for (x = x1; x <= x2; x++)
            if ((y == y1 || y == y2 || x == x1 || x == x2) && y >= 0 && y < wk->h && x >= 0 && x < wk->w)
                memcpy(rgb + ((size_t)y * wk->w + x) * 3, c, 3);
}

/* rows [n][stride] of normalized boxes; n_max drawn, all-zero rows (the padding) skipped */
static void draw_boxes(const walk *wk, const char *name, const float *rows, int n, int stride, int n_max) {
    unsigned char *rgb = background(wk), c[3];
    int i, drawn = 0;
    for (i = 0; i < n && drawn < n_max; i++) {
        const float *b = rows + (size_t)i * stride;
        if (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0) continue;
        color(drawn++, c);
        draw_box(wk, rgb, b, c);
    }
    printf("%18s %d boxes drawn to %s.png\n", "", drawn, name);
    save(wk, name, wk->w, wk->h, rgb);
    free(rgb);
}

/* RPN foreground probability per level: the largest of the 3 anchors at each position, 0..1. */
static void draw_objectness(const walk *wk, const float *probs) {
    size_t off = 0;
    int lv;
    for (lv = 0; lv < 5; lv++) {
        int h = wk->Hp >> (lv + 2), w = wk->Wp >> (lv + 2), zoom = 256 / h > 1 ? 256 / h : 1, y, x, a;
        unsigned char *rgb = (unsigned char *)malloc((size_t)h * zoom * w * zoom * 3);
        char name[32];
        for (y = 0; y < h * zoom; y++)
            for (x = 0; x < w * zoom; x++) {
                float m = 0;
                for (a = 0; a < 3; a++) {
                    float p = probs[2 * (off + ((size_t)(y / zoom) * w + x / zoom) * 3 + a) + 1];
                    m = p > m ? p : m;
                }
                memset(rgb + ((size_t)y * w * zoom + x) * 3, (int)(255.0f * m), 3);
            }
        snprintf(name, sizeof name, "rpn_objectness_P%d", lv + 2);
        save(wk, name, w * zoom, h * zoom, rgb);
        free(rgb);
        off += (size_t)h * w * 3;
    }
    printf("%18s drawn to rpn_objectness_P2..P6.png\n", "");
}

/* The first 16 masks (class 1), 28×28 each, ×4, in a row of tiles. */
static void draw_masks28(const walk *wk, const float *m, int n, int s, int K) {
    int k = n < 16 ? n : 16, t, y, x, W = k * (4 * s + 2), H = 4 * s;
    unsigned char *rgb;
    if (k == 0) return;
    rgb = (unsigned char *)calloc((size_t)W * H * 3, 1);
    for (t = 0; t < k; t++)
        for (y = 0; y < H; y++)
            for (x = 0; x < 4 * s; x++)
                memset(rgb + ((size_t)y * W + t * (4 * s + 2) + x) * 3,
                       (int)(255.0f * m[(((size_t)t * s + y / 4) * s + x / 4) * K + 1]), 3);
    printf("%18s %d masks drawn to mrcnn_mask.png\n", "", k);
    save(wk, "mrcnn_mask", W, H, rgb);
    free(rgb);
}

/* ------------------------------------------------------------------ the stage callback */

static void on_stage(void *user, const char *name, const float *d, int nd, const int *dims, int ld) {
    walk *wk = (walk *)user;
    double t = now_s(), lo = 1e30, hi = -1e30;
    size_t rows = 1, r;
    int i, last = dims[nd - 1];
    char shape[64];
    int len = 0;
    for (i = 0; i < nd - 1; i++) rows *= (size_t)dims[i];
    for (r = 0; r < rows; r++)
        for (i = 0; i < last; i++) {
            double v = d[r * (size_t)ld + i];
            lo = v < lo ? v : lo; hi = v > hi ? v : hi;
        }
    for (i = 0; i < nd; i++) len += snprintf(shape + len, sizeof shape - len, i ? "x%d" : "%d", dims[i]);
    if (rows * last == 0) lo = hi = 0;
    wk->t_sum += t - wk->t_prev;
    printf("%-17s %-16s %11.4g %11.4g %9.2f  %s\n", name, shape, lo, hi, 1e3 * (t - wk->t_prev), what_is(name));
    if (!strcmp(name, "mrcnn_mask")) wk->n0 = dims[0];
    if (wk->draw) {
        if (nd == 3 && dims[2] <= 2 && !strncmp(name, "mold", 4)) {    /* the input(s) */
            char n2[32];
            for (i = 0; i < dims[2]; i++) {
                snprintf(n2, sizeof n2, "%s%s", name, dims[2] == 2 ? (i ? "_ch1" : "_ch0") : "");
                draw_map(wk, n2, d + i, dims[0], dims[1], 1, ld);
            }
        } else if (nd == 3 && is_map(name)) {
            draw_map(wk, name, d, dims[0], dims[1], dims[2], ld);    /* C, P and F maps */
        } else if (!strcmp(name, "rpn_class")) {
            draw_objectness(wk, d);
        } else if (!strcmp(name, "rpn_rois")) {
            draw_boxes(wk, "rpn_rois_top50", d, dims[0], 4, 50);    /* in selection (score) order */
        } else if (!strcmp(name, "detections")) {
            draw_boxes(wk, "detections", d, dims[0], 6, dims[0]);
        } else if (!strcmp(name, "mrcnn_mask")) {
            draw_masks28(wk, d, dims[0], dims[1], dims[3]);
        }
    }
    wk->t_prev = now_s();
}

/* The final instances: each pasted mask (fpf_instance_paste) over the image, one colour each. */
static void draw_instances(const walk *wk, const fpf_output *out) {
    unsigned char *rgb = background(wk), c[3];
    uint8_t *m = (uint8_t *)malloc((size_t)wk->h * wk->w);
    int i, y, x;
    for (i = 0; i < out->n_cells; i++) {
        const fpf_instance *in = &out->cells[i];
        int bw = in->x2 - in->x1;
        fpf_instance_paste(in, m, (size_t)bw);
        color(i, c);
        for (y = in->y1; y < in->y2; y++)
            for (x = in->x1; x < in->x2; x++)
                if (m[(size_t)(y - in->y1) * bw + (x - in->x1)]) {
                    unsigned char *p = rgb + ((size_t)y * wk->w + x) * 3;
                    p[0] = (unsigned char)((p[0] + c[0]) / 2); p[1] = (unsigned char)((p[1] + c[1]) / 2);
                    p[2] = (unsigned char)((p[2] + c[2]) / 2);
                }
    }
    save(wk, "masks", wk->w, wk->h, rgb);
    free(m);
    free(rgb);
}

/* ------------------------------------------------------------------ main */

static fpf_image load(const char *path, fpfi_image *keep) {
    char err[256];
    if (fpfi_read(path, 0, 0, keep, err, sizeof err) != 0) die(path, err);
    if (keep->type == FPFI_U8) return fpf_image_u8((const uint8_t *)keep->pixels, keep->w, keep->h, (size_t)keep->w);
    if (keep->type == FPFI_U16) return fpf_image_u16((const uint16_t *)keep->pixels, keep->w, keep->h, (size_t)keep->w * 2);
    die(path, "only 8- and 16-bit unsigned images are supported");
    return fpf_image_u8(NULL, 0, 0, 0);
}

int main(int argc, char **argv) {
    const char *model_path = "weights/models/fpf_concat.fpf";
    const char *cell_path = "weights/models/example/synth_1003_cell.tif";
    const char *nuc_path = "weights/models/example/synth_1003_nucleus.tif";
    fpfi_image cell_px, nuc_px;
    fpf_model *m = NULL;
    fpf_session *s = NULL;
    fpf_options opt;
    fpf_input in;
    const fpf_output *out;
    const fpf_config *c;
    const fpf_image *main_in;
    walk wk;
    char msg[256];
    double lo = 1e30, hi = -1e30, t0;
    int i, y, x;
    memset(&wk, 0, sizeof wk);
    memset(&opt, 0, sizeof opt);
    opt.n_threads = 1;
    for (i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die(k, "unknown option or missing value (see the top of examples/fpf_walkthrough.c)");
        if (!strcmp(k, "--model")) model_path = v;
        else if (!strcmp(k, "--cell")) cell_path = v;
        else if (!strcmp(k, "--nucleus")) nuc_path = v;
        else if (!strcmp(k, "--draw")) wk.draw = v;
        else if (!strcmp(k, "--threads")) opt.n_threads = atoi(v);
        else die(k, "unknown option");
    }
    if (wk.draw && mkdir(wk.draw, 0777) != 0 && errno != EEXIST) die(wk.draw, strerror(errno));
    if (fpf_model_load_file(model_path, NULL, &m, msg, sizeof msg) != FPF_OK) die(model_path, msg);
    c = fpf_model_config(m);
    wk.fpn_width = c->fpn_width;
    in.cell = load(cell_path, &cell_px);
    in.nucleus = load(nuc_path, &nuc_px);
    main_in = c->variant == FPF_VARIANT_CORES ? &in.nucleus : &in.cell;
    wk.h = main_in->height; wk.w = main_in->width;
    wk.Hp = (wk.h + 63) / 64 * 64; wk.Wp = (wk.w + 63) / 64 * 64;
    wk.bg = (unsigned char *)malloc((size_t)wk.h * wk.w);      /* min..max of the main input */
    for (i = 0; i < 2; i++)
        for (y = 0; y < wk.h; y++)
            for (x = 0; x < wk.w; x++) {
                const uint8_t *row = (const uint8_t *)main_in->pixels + (size_t)y * main_in->stride;
                double v = main_in->bits == 16 ? ((const uint16_t *)(const void *)row)[x] : row[x];
                if (i == 0) { lo = v < lo ? v : lo; hi = v > hi ? v : hi; }
                else wk.bg[(size_t)y * wk.w + x] = (unsigned char)(hi > lo ? 255.0 * (v - lo) / (hi - lo) : 0);
            }
    opt.stage = on_stage;
    opt.stage_user = &wk;
    if (fpf_session_init(m, NULL, wk.h, wk.w, &opt, &s) != FPF_OK) die(model_path, "cannot set up a session");
    printf("fpf_walkthrough: %s (variant %d, FPN width %d, pyramid depth D = %d) on %s, %d×%d (padded %d×%d)\n",
           model_path, c->variant, c->fpn_width, c->merge == 2 ? 2 * c->fpn_width : c->fpn_width,
           cell_path, wk.h, wk.w, wk.Hp, wk.Wp);
    printf("%-17s %-16s %11s %11s %9s  %s\n", "tensor", "shape", "min", "max", "ms", "what (docs/ARCHITECTURE.md)");
    t0 = wk.t_prev = now_s();
    if (fpf_session_run(s, &in, &out) != FPF_OK) die("run", fpf_session_message(s));
    wk.t_sum += now_s() - wk.t_prev;
    printf("%-17s %-16d %11s %11s %9.2f  %s\n", "instances", out->n_cells, "", "", 1e3 * (now_s() - wk.t_prev),
           "unmolded to pixels, masks pasted on demand (§10.2)");
    printf("%d of the %d detection rows are instances; %.1f ms in all, of which %.1f ms computing\n",
           out->n_cells, wk.n0, 1e3 * (now_s() - t0), 1e3 * wk.t_sum);
    if (wk.draw) {
        draw_instances(&wk, out);
        printf("pictures in %s/\n", wk.draw);
    }
    fpf_session_free(s);
    fpf_model_free(m);
    fpfi_free(&cell_px);
    fpfi_free(&nuc_px);
    free(wk.bg);
    return 0;
}

/* tests/test_tile.c - fpf_tiler (fpf.h section 10): the stitching rule worked by hand at seams and
 * corners, the tile grid, tiled against untiled runs of the shipped nucleus model, the detection
 * cap in the output struct, per-run proposals, and the scale round trip.
 * The model tests use weights/models/cores.fpf on synthetic scenes (examples/fpf_synth.h) and skip
 * when it is missing. Runtime: a few seconds. */
#define FPF_ALL_IMPLEMENTATION
#include "fpf.h"
#include "fpf_post.h"
#define FPF_SYNTH_IMPLEMENTATION
#include "fpf_synth.h"
#include "harness.h"
#include <stdlib.h>

static float ones[28 * 28];

static fpf_instance box(int y1, int x1, int y2, int x2, float score) {
    fpf_instance in;
    memset(&in, 0, sizeof in);
    in.y1 = y1; in.x1 = x1; in.y2 = y2; in.x2 = x2; in.score = score; in.class_id = 1;
    in.mask28 = ones; in.mask_size = 28; in.threshold = 0.5f; in.mask_min = in.mask_max = 1.0f;
    return in;
}

/* Tile i of a grid along one axis, as the tiler makes it. */
static fpf__tile tile_of(int H, int W, int th, int tw, int ny, int nx, int iy, int ix) {
    fpf__tile g;
    g.th = th; g.tw = tw; g.H = H; g.W = W;
    g.y0 = fpf__tile_start(H, th, ny, iy); g.x0 = fpf__tile_start(W, tw, nx, ix);
    fpf__tile_core(H, th, ny, iy, &g.cy0, &g.cy1); fpf__tile_core(W, tw, nx, ix, &g.cx0, &g.cx1);
    return g;
}

/* Adds one instance given in image coordinates to tile t (the tiler hands boxes relative to the tile). */
static void add_global(fpf__stitch *st, int tile, const fpf__tile *g, fpf_instance in) {
    in.y1 -= g->y0; in.y2 -= g->y0; in.x1 -= g->x0; in.x2 -= g->x0;
    CHECK(fpf__stitch_reserve(NULL, st, 1, 28));
    fpf__stitch_add(st, &in, 1, tile, g, 0.3f);
}

static int kept(const fpf__stitch *st, int *which) {
    int k, n = 0;
    for (k = 0; k < st->n; k++) if (st->tile[k] >= 0) { if (which) *which = k; n++; }
    return n;
}

/* Two tiles side by side: W = 300, tiles 170 wide -> x [0,170) and [130,300), overlap 40,
   core boundary (130 + 170) / 2 = 150. */
TEST(stitch_seam_by_hand) {
    fpf__stitch st;
    fpf__tile a = tile_of(100, 300, 100, 170, 1, 2, 0, 0), b = tile_of(100, 300, 100, 170, 1, 2, 0, 1);
    int k = -1;
    CHECK_EQ_INT(a.x0, 0); CHECK_EQ_INT(b.x0, 130); CHECK_EQ_INT(a.cx1, 150); CHECK_EQ_INT(b.cx0, 150);
    CHECK_EQ_INT(b.cx1, 300); CHECK_EQ_INT(a.cy0, 0); CHECK_EQ_INT(a.cy1, 100);

    /* An object on the seam, x [135,165), centre 150.0: both tiles see it whole; B's core owns it. */
    memset(&st, 0, sizeof st);
    add_global(&st, 0, &a, box(40, 135, 70, 165, 0.9f));
    add_global(&st, 1, &b, box(40, 135, 70, 165, 0.9f));
    CHECK_EQ_INT(kept(&st, &k), 1); CHECK_EQ_INT(st.tile[k], 1); CHECK_EQ_INT(st.edge[k], 5); /* 135 - 130 */
    fpf__stitch_free(NULL, &st);

    /* The same object found with centres on either side: A [134,164) centre 149 (edge 170-164 = 6),
       B [137,167) centre 152 (edge 137-130 = 7): IoU 27/33 > 0.3, B lies deeper and wins. */
    memset(&st, 0, sizeof st);
    add_global(&st, 0, &a, box(40, 134, 70, 164, 0.95f));
    add_global(&st, 1, &b, box(40, 137, 70, 167, 0.80f));
    CHECK_EQ_INT(kept(&st, &k), 1); CHECK_EQ_INT(st.tile[k], 1); CHECK_EQ_INT(st.inst[k].x1, 137);
    fpf__stitch_free(NULL, &st);

    /* A tie in depth (A [134,164): 6, B [136,166): 6) keeps the earlier tile. */
    memset(&st, 0, sizeof st);
    add_global(&st, 0, &a, box(40, 134, 70, 164, 0.95f));
    add_global(&st, 1, &b, box(40, 136, 70, 166, 0.80f));
    CHECK_EQ_INT(kept(&st, &k), 1); CHECK_EQ_INT(st.tile[k], 0);
    fpf__stitch_free(NULL, &st);

    /* Cut halves: an object x [100,200) is wider than the overlap. A sees [100,170) (centre 135, in
       its core, touching its shared edge), B sees [130,200) (centre 165, touching): both dropped. */
    memset(&st, 0, sizeof st);
    add_global(&st, 0, &a, box(10, 100, 60, 170, 0.9f));
    add_global(&st, 1, &b, box(10, 130, 60, 200, 0.9f));
    CHECK_EQ_INT(kept(&st, NULL), 0);
    /* One pixel off the edge is still cut (2 px rule); two pixels is not. */
    add_global(&st, 0, &a, box(10, 120, 30, 169, 0.9f));
    CHECK_EQ_INT(kept(&st, NULL), 0);
    add_global(&st, 0, &a, box(10, 110, 30, 148, 0.9f));   /* centre 129, edge 170 - 148 = 22 */
    CHECK_EQ_INT(kept(&st, NULL), 1);
    /* Edges of the image are not shared: an object touching x = 0 or x = 300 is kept. */
    add_global(&st, 0, &a, box(70, 0, 90, 20, 0.9f));
    add_global(&st, 1, &b, box(70, 280, 90, 300, 0.9f));
    CHECK_EQ_INT(kept(&st, NULL), 3);
    /* Two different objects side by side across the seam (IoU 0) both stay. */
    add_global(&st, 0, &a, box(80, 120, 95, 149, 0.9f));
    add_global(&st, 1, &b, box(80, 151, 95, 180, 0.9f));
    CHECK_EQ_INT(kept(&st, NULL), 5);
    fpf__stitch_free(NULL, &st);
}

/* Four tiles meeting at a corner: 300 x 300, tiles 170 -> cores split at 150 both ways. An object at
   the corner is seen whole by all four with centres in four different cores: kept once, from the
   tile where it lies deepest. */
TEST(stitch_corner_by_hand) {
    fpf__stitch st;
    fpf__tile g[4];
    int i, k = -1;
    fpf_instance seen[4];
    for (i = 0; i < 4; i++) g[i] = tile_of(300, 300, 170, 170, 2, 2, i / 2, i % 2);
    seen[0] = box(134, 134, 164, 164, 0.90f); /* centre (149,149): tile 0's core; depth min(6, 6) = 6 */
    seen[1] = box(134, 137, 164, 167, 0.91f); /* centre (149,152): tile 1; depth min(170-164, 137-130) = 6 */
    seen[2] = box(138, 134, 168, 164, 0.92f); /* centre (153,149): tile 2; depth min(138-130, 170-164) = 6 */
    seen[3] = box(137, 138, 167, 168, 0.93f); /* centre (152,153): tile 3; depth min(7, 8) = 7 */
    memset(&st, 0, sizeof st);
    for (i = 0; i < 4; i++) add_global(&st, i, &g[i], seen[i]);
    CHECK_EQ_INT(kept(&st, &k), 1);
    CHECK_EQ_INT(st.tile[k], 3); CHECK_EQ_INT(st.edge[k], 7);
    fpf__stitch_free(NULL, &st);
    /* Arrival order does not matter for which copy survives. */
    memset(&st, 0, sizeof st);
    for (i = 3; i >= 0; i--) add_global(&st, i, &g[i], seen[i]);
    CHECK_EQ_INT(kept(&st, &k), 1);
    CHECK_EQ_INT(st.tile[k], 3);
    fpf__stitch_free(NULL, &st);
    /* An object exactly on the corner point, identical in all four tiles: centre (150,150) lies in
       tile 3's core only (cores are half-open), so exactly one copy is offered. */
    memset(&st, 0, sizeof st);
    for (i = 0; i < 4; i++) add_global(&st, i, &g[i], box(135, 135, 165, 165, 0.9f));
    CHECK_EQ_INT(kept(&st, &k), 1); CHECK_EQ_INT(st.tile[k], 3);
    fpf__stitch_free(NULL, &st);
}

/* Tiles start at 0 and end at n, share at least `overlap`, and their cores partition [0, n) with
   at least overlap / 2 of tile on each shared side. */
TEST(tile_grid_covers_with_overlap) {
    static const int cases[][3] = {{100, 256, 64}, {256, 256, 64}, {257, 256, 64}, {1000, 256, 64},
                                   {4096, 1024, 256}, {8192, 1024, 256}, {777, 300, 140}};
    size_t c;
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n = cases[c][0], t = cases[c][1], ov = cases[c][2], cnt = fpf__tile_count(n, t, ov), i, prev_end = 0;
        int th = n < t ? n : t;
        for (i = 0; i < cnt; i++) {
            int s = fpf__tile_start(n, th, cnt, i), c0, c1;
            fpf__tile_core(n, th, cnt, i, &c0, &c1);
            CHECK_MSG(c0 == prev_end && c1 > c0, "n %d tile %d: core %d [%d,%d) after %d", n, t, i, c0, c1, prev_end);
            CHECK(s >= 0 && s + th <= n);
            if (i == 0) CHECK_EQ_INT(s, 0);
            if (i == cnt - 1) { CHECK_EQ_INT(s + th, n); CHECK_EQ_INT(c1, n); }
            if (i > 0) {
                CHECK_MSG(fpf__tile_start(n, th, cnt, i - 1) + th - s >= ov, "n %d: overlap of tiles %d, %d", n, i - 1, i);
                CHECK(c0 - s >= ov / 2);
            }
            if (i < cnt - 1) CHECK(s + th - c1 >= ov / 2);
            prev_end = c1;
        }
    }
}

/* ------------------------------------------------------------------ with the shipped nucleus model */

static fpf_model *cores;

static int load_cores(void) {
    char msg[256];
    if (cores) return 1;
    return fpf_model_load_file("weights/models/cores.fpf", NULL, &cores, msg, sizeof msg) == FPF_OK;
}

/* One dense 1024 x 1024 field (~136 nuclei), made once; smaller scenes are crops of it. */
static fpfs_scene field;
static int field_ok;

static int scene(fpfs_scene *s, int w, int h) {
    if (!field_ok) {
        fpfs_params p;
        fpfs_default_params(&p);
        p.width = 1024; p.height = 1024; p.seed = 777202ULL; p.cells_per_field = 200.0;
        if (fpfs_generate(&p, &field) != 0) return 0;
        field_ok = 1;
    }
    return fpfs_crop(&field, 0, 0, w, h, s) == 0;
}

static double iou(const fpf_instance *a, const fpf_instance *b) { return fpf__box_iou(a, b); }

/* An image that fits one tile: the tiler gives the session's own result, bit for bit. */
TEST(one_tile_equals_session) {
    fpfs_scene sc;
    fpf_session *s = NULL;
    fpf_tiler *t = NULL;
    fpf_input in;
    const fpf_output *o1, *o2;
    fpf_instance *copy;
    int i, n;
    if (!load_cores()) SKIP("weights/models/cores.fpf not shipped");
    CHECK(scene(&sc, 384, 320));
    memset(&in, 0, sizeof in);
    in.nucleus = fpf_image_u16(sc.nucleus, sc.w, sc.h, (size_t)sc.w * 2);   /* 16-bit: percentile mapping */
    CHECK(fpf_session_init(cores, NULL, sc.h, sc.w, NULL, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &o1) == FPF_OK);
    n = o1->n_cells;
    copy = (fpf_instance *)malloc((size_t)(n + 1) * sizeof *copy);
    float *masks = (float *)malloc((size_t)(n + 1) * 784 * sizeof(float));
    for (i = 0; i < n; i++) { copy[i] = o1->cells[i]; memcpy(masks + 784 * i, o1->cells[i].mask28, 784 * sizeof(float)); }
    CHECK(fpf_tiler_init(s, NULL, &t) == FPF_OK);
    CHECK(fpf_tiler_run(t, &in, &o2) == FPF_OK);
    CHECK_EQ_INT(fpf_tiler_tiles(t), 1);
    CHECK(n > 5);
    CHECK_EQ_INT(o2->n_cells, n);
    for (i = 0; i < n && i < o2->n_cells; i++) {
        const fpf_instance *a = &copy[i], *b = &o2->cells[i];
        CHECK_MSG(a->y1 == b->y1 && a->x1 == b->x1 && a->y2 == b->y2 && a->x2 == b->x2 && a->score == b->score,
                  "instance %d differs", i);
        CHECK(memcmp(masks + 784 * i, b->mask28, 784 * sizeof(float)) == 0);
    }
    free(copy); free(masks);
    fpf_tiler_free(t); fpf_session_free(s); fpfs_free(&sc);
}

/* A dense 1024 x 1024 field: tiles of 256 (overlap 64, nuclei <= 45 px) against one untiled run.
   No duplicates, and the two runs find the same nuclei (both ways >= 90 % at box IoU >= 0.5). */
TEST(tiled_matches_untiled_without_duplicates) {
    fpfs_scene sc;
    fpf_session *s1 = NULL, *s2 = NULL;
    fpf_tiler *t = NULL;
    fpf_tile_options to;
    fpf_input in;
    const fpf_output *o1, *o2;
    fpf_instance *u;
    int i, j, n1, n2, dup = 0, m12 = 0, m21 = 0;
    if (!load_cores()) SKIP("weights/models/cores.fpf not shipped");
    CHECK(scene(&sc, 1024, 1024));
    memset(&in, 0, sizeof in);
    in.nucleus = fpf_image_u16(sc.nucleus, sc.w, sc.h, (size_t)sc.w * 2);
    CHECK(fpf_session_init(cores, NULL, sc.h, sc.w, NULL, &s1) == FPF_OK);
    CHECK(fpf_session_run(s1, &in, &o1) == FPF_OK);
    n1 = o1->n_cells;
    u = (fpf_instance *)malloc((size_t)(n1 + 1) * sizeof *u);
    for (i = 0; i < n1; i++) u[i] = o1->cells[i];
    CHECK(fpf_session_init(cores, NULL, 256, 256, NULL, &s2) == FPF_OK);
    memset(&to, 0, sizeof to);
    to.overlap = 64;
    CHECK(fpf_tiler_init(s2, &to, &t) == FPF_OK);
    CHECK(fpf_tiler_run(t, &in, &o2) == FPF_OK);
    n2 = o2->n_cells;
    CHECK_EQ_INT(fpf_tiler_tiles(t), 25);                     /* ceil((1024 - 64) / 192) = 5 per side */
    for (i = 0; i < n2; i++)
        for (j = i + 1; j < n2; j++) dup += iou(&o2->cells[i], &o2->cells[j]) > 0.3;
    for (i = 0; i < n1; i++) { int hit = 0; for (j = 0; j < n2 && !hit; j++) hit = iou(&u[i], &o2->cells[j]) >= 0.5; m12 += hit; }
    for (j = 0; j < n2; j++) { int hit = 0; for (i = 0; i < n1 && !hit; i++) hit = iou(&u[i], &o2->cells[j]) >= 0.5; m21 += hit; }
    for (i = 1; i < n2; i++) CHECK(o2->cells[i - 1].score >= o2->cells[i].score);
    printf("  untiled %d, tiled %d nuclei (ground truth %d); matched %d / %d; duplicates %d\n", n1, n2, sc.nnuclei, m12, m21, dup);
    CHECK(n1 > 60 && n1 < 200);                               /* dense, but under the untiled cap */
    CHECK_EQ_INT(dup, 0);
    CHECK(m12 >= 0.9 * n1);
    CHECK(m21 >= 0.9 * n2);
    free(u);
    fpf_tiler_free(t); fpf_session_free(s1); fpf_session_free(s2); fpfs_free(&sc);
}

/* The cap: with det_max_instances = 3 the output says how many were dropped (the uncapped count
   less 3); tiled, each tile has its own budget of 3. */
TEST(cap_is_reported_and_per_tile) {
    fpfs_scene sc;
    fpf_session *s = NULL;
    fpf_tiler *t = NULL;
    fpf_options opt;
    fpf_tile_options to;
    fpf_input in;
    const fpf_output *o;
    int n_all;
    if (!load_cores()) SKIP("weights/models/cores.fpf not shipped");
    CHECK(scene(&sc, 512, 512));
    memset(&in, 0, sizeof in);
    in.nucleus = fpf_image_u16(sc.nucleus, sc.w, sc.h, (size_t)sc.w * 2);
    CHECK(fpf_session_init(cores, NULL, 512, 512, NULL, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &o) == FPF_OK);
    n_all = o->n_cells;
    CHECK_EQ_INT(o->cells_over_max, 0); CHECK_EQ_INT(o->max_detections, 200);
    fpf_session_free(s);
    memset(&opt, 0, sizeof opt);
    opt.det_max_instances = 3;
    CHECK(fpf_session_init(cores, NULL, 512, 512, &opt, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &o) == FPF_OK);
    CHECK(n_all > 10);
    CHECK_EQ_INT(o->n_cells, 3);
    CHECK_EQ_INT(o->max_detections, 3);
    CHECK_EQ_INT(o->cells_over_max, n_all - 3);
    fpf_session_free(s);
    CHECK(fpf_session_init(cores, NULL, 256, 256, &opt, &s) == FPF_OK);
    memset(&to, 0, sizeof to);
    to.overlap = 64;
    CHECK(fpf_tiler_init(s, &to, &t) == FPF_OK);
    CHECK(fpf_tiler_run(t, &in, &o) == FPF_OK);
    CHECK_EQ_INT(fpf_tiler_tiles(t), 9);              /* ceil((512 - 64) / 192) = 3 per side */
    CHECK(o->n_cells > 3 && o->n_cells <= 27);               /* nine budgets of 3, less the stitch */
    CHECK(o->cells_over_max > 0);
    fpf_tiler_free(t); fpf_session_free(s); fpfs_free(&sc);
}

/* Proposals per run: a smaller workspace, a run that works, and the range checked. */
TEST(max_proposals_per_run) {
    fpf_options opt;
    size_t full = 0, small = 0, big = 0;
    fpf_session *s = NULL;
    fpfs_scene sc;
    fpf_input in;
    const fpf_output *o;
    if (!load_cores()) SKIP("weights/models/cores.fpf not shipped");
    memset(&opt, 0, sizeof opt);
    CHECK(fpf_session_workspace_size(cores, NULL, 256, 256, &opt, &full) == FPF_OK);
    opt.max_proposals = 50;
    CHECK(fpf_session_workspace_size(cores, NULL, 256, 256, &opt, &small) == FPF_OK);
    CHECK(small < full);
    opt.max_proposals = 2000;
    CHECK(fpf_session_workspace_size(cores, NULL, 256, 256, &opt, &big) == FPF_OK);
    CHECK(big > full);
    opt.max_proposals = 65537;
    CHECK(fpf_session_workspace_size(cores, NULL, 256, 256, &opt, &big) == FPF_ERR_INVALID_ARG);
    opt.max_proposals = -1;
    CHECK(fpf_session_init(cores, NULL, 256, 256, &opt, &s) == FPF_ERR_INVALID_ARG);
    opt.max_proposals = 20;
    CHECK(scene(&sc, 256, 256));
    memset(&in, 0, sizeof in);
    in.nucleus = fpf_image_u16(sc.nucleus, sc.w, sc.h, (size_t)sc.w * 2);
    CHECK(fpf_session_init(cores, NULL, 256, 256, &opt, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &in, &o) == FPF_OK);
    CHECK(o->n_cells <= 20);
    fpf_session_free(s); fpfs_free(&sc);
}

/* Scale round trip: the tiler at scale 2 equals a session run on the image it resamples, with the
   boxes halved (rounded half up); and the resampling at integer factors hits the source pixels. */
TEST(scale_round_trip) {
    fpfs_scene sc;
    fpf_session *s = NULL;
    fpf_tiler *t = NULL;
    fpf_tile_options to;
    fpf_input in, up;
    const fpf_output *o;
    fpf_instance *ref;
    uint8_t *img8;
    uint16_t *buf;
    fpf_image v;
    int i, n, y, x, exact = 1;
    if (!load_cores()) SKIP("weights/models/cores.fpf not shipped");
    CHECK(scene(&sc, 192, 160));
    img8 = (uint8_t *)malloc((size_t)sc.w * sc.h);
    for (i = 0; i < sc.w * sc.h; i++) img8[i] = (uint8_t)(sc.nucleus[i] >> 4);   /* 12-bit -> 8-bit */
    memset(&in, 0, sizeof in);
    in.nucleus = fpf_image_u8(img8, sc.w, sc.h, (size_t)sc.w);
    buf = (uint16_t *)malloc((size_t)4 * sc.w * sc.h * 2);
    v = fpf__tile_view(&in.nucleus, 2.0f, buf, 0, 0, 2 * sc.h, 2 * sc.w);
    /* bilinear at half-pixel centres, factor 2: output (2y+1/2... ) -> source y - 1/4 or y + 1/4 */
    for (y = 1; y < sc.h - 1; y++)
        for (x = 1; x < sc.w - 1; x++) {
            double e = 0.5625 * img8[y * sc.w + x] + 0.1875 * img8[y * sc.w + x - 1] + 0.1875 * img8[(y - 1) * sc.w + x] +
                       0.0625 * img8[(y - 1) * sc.w + x - 1];
            exact &= ((const uint8_t *)v.pixels)[(size_t)(2 * y) * v.stride + 2 * x] == (uint8_t)(e + 0.5);
        }
    CHECK(exact);
    memset(&up, 0, sizeof up);
    up.nucleus = v;
    CHECK(fpf_session_init(cores, NULL, 2 * sc.h, 2 * sc.w, NULL, &s) == FPF_OK);
    CHECK(fpf_session_run(s, &up, &o) == FPF_OK);
    n = o->n_cells;
    ref = (fpf_instance *)malloc((size_t)(n + 1) * sizeof *ref);
    for (i = 0; i < n; i++) ref[i] = o->cells[i];
    memset(&to, 0, sizeof to);
    to.scale = 2.0f;
    CHECK(fpf_tiler_init(s, &to, &t) == FPF_OK);
    CHECK(fpf_tiler_run(t, &in, &o) == FPF_OK);
    CHECK(n > 3);
    CHECK_EQ_INT(o->n_cells, n);
    CHECK_EQ_INT(o->height, sc.h); CHECK_EQ_INT(o->width, sc.w);
    for (i = 0; i < n && i < o->n_cells; i++) {
        const fpf_instance *a = &ref[i], *b = &o->cells[i];
        CHECK_MSG(b->y1 == (a->y1 + 1) / 2 && b->x1 == (a->x1 + 1) / 2 && b->y2 == (a->y2 + 1) / 2 && b->x2 == (a->x2 + 1) / 2,
                  "instance %d: [%d %d %d %d] at scale 2, [%d %d %d %d] back", i, a->y1, a->x1, a->y2, a->x2, b->y1, b->x1, b->y2, b->x2);
        CHECK(a->score == b->score);
    }
    to.scale = 0.01f;
    fpf_tiler_free(t); t = NULL;
    CHECK(fpf_tiler_init(s, &to, &t) == FPF_ERR_INVALID_ARG);
    free(ref); free(buf); free(img8);
    fpf_session_free(s); fpfs_free(&sc);
}

int main(void) {
    int i;
    for (i = 0; i < 28 * 28; i++) ones[i] = 1.0f;
    RUN(stitch_seam_by_hand);
    RUN(stitch_corner_by_hand);
    RUN(tile_grid_covers_with_overlap);
    RUN(one_tile_equals_session);
    RUN(tiled_matches_untiled_without_duplicates);
    RUN(cap_is_reported_and_per_tile);
    RUN(max_proposals_per_run);
    RUN(scale_round_trip);
    fpf_model_free(cores);
    if (field_ok) fpfs_free(&field);
    return harness_summary("tile");
}

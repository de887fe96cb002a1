/* fpf.h - v0.1 - Feature Pyramid Fusion cell + nucleus segmentation on the CPU.
   SPDX-License-Identifier: MIT            (full text at the end of this file)

   Do this:
       #define FPF_IMPLEMENTATION
       #include "fpf.h"
   in *one* C or C++ file. Other files include fpf.h without the define.

   fpf runs the Mask R-CNN of Korfhage et al., "Detection and segmentation of morphologically
   complex eukaryotic cells in fluorescence microscopy images via feature pyramid fusion", PLOS
   Comput Biol 2020, with the numerics of the original TF1/Keras code (a matterport fork):

     nucleus image ──► backbone_core ─► FPN_core ─► P2..P6 (nucleus) ─┐
                                                                     ├─ add or concat ─► F2..F6
     cell image ─────► backbone ──────► FPN ──────► P2..P6 (cell) ───┘         │
                                                                              ▼
         RPN (anchors, deltas, NMS) ─► 500 proposals ─► RoIAlign 7×7 ─► box head ─► detection
                                                     ─► RoIAlign 14×14 ─► mask head ─► 28×28 masks

   The same code runs the five published variants: "cores" (nucleus model), "without_nucleus",
   "with_nucleus" (one 2-channel input: channel 0 cell, channel 1 nucleus), FPF-add and
   FPF-concat. Section numbers (§) refer to docs/ARCHITECTURE.md.

   DOCUMENTATION

   Quick start (make test compiles and runs this block on the shipped example)
       char msg[256];
       fpf_model *cells = NULL, *nuclei = NULL;
       if (fpf_model_load_file("fpf_add.fpf", NULL, &cells, msg, sizeof msg) != FPF_OK ||  // any variant
           fpf_model_load_file("cores.fpf", NULL, &nuclei, msg, sizeof msg) != FPF_OK) {   // nucleus model
           puts(msg);
           return 1;
       }
       fpf_session *s = NULL;
       if (fpf_session_init(cells, nuclei, height, width, NULL, &s) != FPF_OK) return 1; // max size
       fpf_input in = {0};
       in.cell    = fpf_image_u16(cell_pixels, width, height, width * 2);  // width, height, stride
       in.nucleus = fpf_image_u16(nuc_pixels,  width, height, width * 2);
       const fpf_output *out = NULL;
       if (fpf_session_run(s, &in, &out) != FPF_OK) puts(fpf_session_message(s));
       else for (int i = 0; i < out->n_cells; i++) {
           const fpf_instance *c = &out->cells[i];  // box y1 x1 y2 x2, score, 28×28 mask
           printf("cell %d: box %d %d %d %d, score %.3f\n", i + 1, c->y1, c->x1, c->y2, c->x2, c->score);
       }
       fpf_session_free(s); fpf_model_free(cells); fpf_model_free(nuclei);

   Models and sessions
       An fpf_model is immutable after loading and may be shared by any number of threads. All
       per-image state lives in an fpf_session: one per thread. A session is created for a maximum
       image size; any smaller image can then be run without further allocation.

   Memory
       fpf_session_workspace_size() tells the bytes a session needs for a given model pair, image
       size and options, before anything is allocated. fpf_session_init_preallocated() then uses a
       buffer the caller owns (firmware, arenas); fpf_session_init() allocates it. Nothing is
       allocated inside fpf_session_run(). Allocation goes through fpf_allocator (a zero struct
       means FPF_MALLOC / FPF_FREE, which default to malloc / free). The biggest maps (the stem's
       conv1 output, 3 rows per task, the FPN's L2, the RPN's 512-deep conv) are made in bands of rows, never whole,
       and the bottleneck blocks of the big stages run 8 output rows at a time (2a, 2b, 2c,
       shortcut: their scratch maps are band buffers that stay in cache; fpf_options.block_rows);
       the paper's FPF-add at 1024×1280 needs a 248 MiB workspace (239 MiB with direct 3×3 convs)
       beside its 120 MiB of weights and 56 MiB of Winograd U.
       fpf_options.max_workspace_bytes caps the workspace per session (0 = only the build's
       FPF_MAX_WORKSPACE_BYTES, 16 GiB on 64-bit): a larger one is refused before allocating.

   Threads
       fpf_options.n_threads = N > 1 starts a built-in pthreads pool of N − 1 workers with the
       session (FPF_NO_THREADS compiles it out); fpf_session_free() stops it, so call it for
       preallocated sessions too. Or set fpf_options.parallel_for(pool, fn, ctx, n) to run
       fn(ctx, i) for i in [0, n) on your own pool. The built-in pool hands out tasks one at a
       time (a thread that loses its core to a neighbour just takes fewer). A waiting thread
       polls for up to FPF_POOL_SPIN pause steps (tens of microseconds) before it sleeps on a
       condition variable, so the hundreds of jobs of one forward pass do not each pay a wake-up
       (as OpenMP and ONNX Runtime pools spin); an idle pool sleeps. Polling costs time when the
       threads outnumber the free cores: beside a busy neighbour, use fewer threads or build with
       -DFPF_POOL_SPIN=0. Every kernel splits its output into fixed tiles, and every output value
       is computed by one task with a fixed summation order, so results are identical for any
       thread count and any pool.

   Errors
       Every fallible function returns fpf_result (FPF_OK = 0, errors < 0; fpf_result_string names
       it). Each also says why in one line: the loaders into their msg buffer, a session run in
       fpf_session_message(s), a failed session init (no session exists yet) into
       fpf_options.init_msg when set. The library never aborts, exits, prints, or touches memory
       outside the buffers it was given.

   Images and normalization
       Input images are single-channel 8-bit or 16-bit, with a row stride in bytes. 8-bit pixels are
       molded exactly as the original: (x − 112.5f) / 255.0f. 16-bit pixels are first mapped to
       0..255 (float, not rounded) by fpf_options.norm16: FPF_NORM16_PERCENTILE (default: the
       0.1 % and 99.9 % percentiles of the image become 0 and 255, values outside are clipped),
       FPF_NORM16_FIXED (lo and hi given), or FPF_NORM16_NONE (values used as they are).
       Any H×W is accepted: the image is padded at the bottom and right to the next multiple of 64
       with intensity 0, the network runs on the padded image, detections are clipped to the real
       image as matterport does for padded images (window), and results are in the coordinates of
       the original image. When H and W are multiples of 64 this is exactly the original pipeline.

   Output
       Per instance: the box (y1, x1, y2, x2 in pixels, y2/x2 exclusive), score, class id, the
       28×28 mask probabilities of its class, and the full-resolution mask on demand:
       fpf_instance_paste() writes the (y2−y1)×(x2−x1) binary mask (skimage-0.14 bilinear resize,
       clipped to the mask's range as resize(clip=True) does, threshold >= 0.5, §10.2). fpf_label_image() in fpf_post.h builds label images.
       At most det_max_instances (200) detections per run: fpf_output.cells_over_max and
       nuclei_over_max count those the maximum dropped, so a cut is never silent.

   Tiling
       fpf_tiler (the last API section) runs images of any size through a session made for one
       tile, stitches the seams (each object kept once, whole) and can resample by a scale factor.

   SIMD and determinism
       The convolutions (every conv, dense layer and the deconv: >99 % of the work) run on one of
       the kernel rows of fpf_isa: AVX2+FMA or AVX-512 on x86-64, picked from cpuid at session
       set-up (fpf_options.isa forces one; one binary runs on any x86-64), NEON on aarch64, or the
       portable scalar row (-DFPF_NO_SIMD leaves only that). Weights are packed once at load into
       panels of 16 output channels. Each kernel has a plain-loop __ref twin that the tests
       compare bit for bit: the SIMD rows fuse every multiply-add (fmaf) in the reference order,
       so they agree with each other exactly; the scalar row differs from them in the last bits.
       The fp32 3×3 convs of the FPN, the RPN and the mask head (85 % of the multiply-adds) run
       as Winograd F(2×2, 3×3) by default: 16 multiply-adds per input and output channel for 4
       outputs instead of 36, the same bits on every row and thread count, rounded differently
       from the direct conv (about 2e-6 of a map's range; fpf_options.conv3x3 = DIRECT keeps the
       reference order). Post-processing follows TF's float32 operation order; compile with -ffp-contract=off (the
       header also sets FP_CONTRACT OFF where the compiler honours it).

   Config macros
       FPF_IMPLEMENTATION     emit the implementation in this translation unit
       FPF_STATIC             make all functions static
       FPF_MALLOC, FPF_FREE   default allocator (define both or neither)
       FPF_NO_STDIO           remove fpf_model_load_file (no <stdio.h>)
       FPF_NO_SIMD            only the portable scalar kernels (no intrinsics, no cpuid)
       FPF_NO_AMX             no Intel AMX int8 row (no tile state, no arch_prctl request)
       FPF_NO_WINOGRAD        no Winograd U at load (16/9 of the FPN, RPN and mask-head 3×3 weights
                              again): every conv direct, as fpf_options.conv3x3 = DIRECT
       FPF_NO_THREADS         no built-in pool (no <pthread.h>); parallel_for still works
       FPF_POOL_SPIN          most pause steps a pool thread polls before it sleeps (default
                              4096; 0: sleep at once; x86-64 with GCC or clang, elsewhere 0)
       FPF_MAX_IMAGE_DIM      largest accepted image side (default 32768)
       FPF_MAX_WORKSPACE_BYTES largest session workspace (default 16 GiB; 2 GiB on 32-bit)
       FPF_ASSERT(cond)       checks of kernel preconditions; off by default (define it as
                              assert(cond), with <assert.h>, to turn them on)

   Model file format (.fpf, version 1; all integers little-endian)
       offset  size  field
       0       8     magic "FPFMODEL"
       8       4     u32 format version (1)
       12      4     u32 number of tensors T
       16      8     u64 file size in bytes (a multiple of 64)
       24      8     u64 checksum (below)
       32      32    reserved, zero
       64      256   config block: 64 little-endian 32-bit words (FPF__CFG_* below; floats as f32 bits)
       320     128·T tensor table, one entry per tensor:
                       char name[80]   NUL-terminated, NUL-padded (Keras layer name + "/kernel" or "/bias")
                       u32  dtype      0 = f32, 1 = s8 with per-output-channel f32 scales (int8, below)
                       u32  ndim       1..4
                       u32  shape[4]   unused dims are 0
                       u64  offset     absolute file offset of the data, a multiple of 64
                       u64  nbytes     = product(shape) × element size
                       u64  scales     s8 only: file offset of f32 scales over the last dim; else 0
       then the tensor data, each tensor 64-byte aligned, zero padding between.
       Checksum: the sum over the file's 64-bit little-endian words w_i (with the checksum field
       read as 0) of w_i × (2i + 1), modulo 2^64. Cheap, and any single-word change alters it.
       Tensors (f32): every conv/dense layer of the variant (§12.2 names; the nucleus tower's with
       "_core") as "<layer>/kernel" and "<layer>/bias", with the following BatchNorm already folded in
       by the writer: kernel·γ/√(var+ε) and (bias−mean)·γ/√(var+ε)+β, ε = 1e-3. Layouts:
       conv kernels HWIO [kh, kw, cin, cout]; dense [cin, cout]; the mask deconv [2, 2, cin, cout]
       (transposed from Keras' (kh, kw, out, in)). A model can therefore be used in place from a
       64-byte aligned buffer or a mapped file (fpf_model_load_inplace); the kernels' packed copy
       of the weights is then allocated beside it. fpf_model_load_file and _memory pack the
       weights inside their own copy of the file instead (no extra memory), so there
       fpf_model_tensor returns kernels in the packed layout (panels of 16 output channels).

   int8 quantized models (same format, version 1; written by examples/fpf_quantize.c)
       A layer is int8 when its "<layer>/kernel" entry has dtype 1: s8 weights q_w in the HWIO
       layout, nbytes = product(shape), and at the entry's scales offset (4-byte aligned) cout f32
       scales s_w over the last dim, so w ≈ s_w[co] · q_w. Beside it an f32 tensor
       "<layer>/input_q" of shape [2] holds the layer's input quantization {s_x, z_x} (s_x > 0,
       z_x an integer 0..255), x ≈ s_x · (q_x − z_x). Other layers stay fp32 (mixed precision:
       fpf_quantize keeps the 1–2 channel stem and the five output layers fp32). An int8 layer
       needs cin % 4 == 0 and kh·kw·cin <= 32768. fpf_model_layers() reports each layer's precision.
       The one formula, with one rounding rule (round half to even) used everywhere:
           q_x = clamp(round_half_even(x / s_x) + z_x, 0, 255)          x / s_x: a float division
           acc = Σ over (ky, kx, ci) of (q_x − z_x) · q_w                  exact in int32
           y   = (float)acc · m[co] + bias[co],   m[co] = s_x · s_w[co]    (one float product)
       then the fp32 epilogue in float: + residual (or nearest-upsampled map), ReLU, += (FPF-add).
       Taps outside the input read q_x = z_x, i.e. the real value 0, as in fp32. A NaN input
       quantizes to 0. Where an int8 layer feeds an int8 layer (inside the bottleneck stages, from
       one stage to the next, the FPN's lateral 1×1 to its 3×3, and the mask head) the writer
       makes its output u8 with the reader's {s_x, z_x}, quantized by the first line in its
       epilogue (and as float too where a shortcut add, an upsample-add or the FPN needs it); a
       first block's 2a and shortcut share one u8 copy of their input; every other int8 layer
       quantizes the rows of the float map it reads, once per call, into the session's u8 buffer.
       Both give the same bytes (fpf_options.int8_requantize = 1 forces the second everywhere: the
       reference twin). Readers of one tensor get the same parameters (calibrated on the same values).
       Integer sums are exact, so every kernel row (scalar, AVX2 without VNNI via int16 vpmaddwd,
       AVX-VNNI, AVX-512 VNNI, Intel AMX-INT8 tiles, NEON, NEON dotprod) gives bit-identical
       results; the int8 epilogue is the same float operations in every row; fpf_options.int8_isa
       forces one row. The AMX row (Linux x86-64) asks the kernel once per check for the process's
       permission to use the tile state (arch_prctl ARCH_REQ_XCOMP_PERM); that enlarges the
       process's signal frames. -DFPF_NO_AMX leaves it out.

   Limits and security
       The loader checks every offset, size and shape with overflow-safe arithmetic, the checksum,
       that the tensor set is exactly the one the config implies, that no tensor overlaps the
       header, the table or another tensor, and that no weight is NaN or Inf. Every config field
       has a bound (listed at fpf_config_check), and the file size must be within the largest the
       config implies, so fpf_model_load_file reads the 320-byte head first and refuses a
       directory, a foreign or oversized file before allocating anything. Options are checked
       (fpf_session_init: FPF_ERR_INVALID_ARG for a non-finite or empty FIXED range, percentiles
       outside [0, 100], det_max_instances above FPF_MAX_DETECTIONS). Image sizes are checked
       against FPF_MAX_IMAGE_DIM, the workspace size for overflow and against
       FPF_MAX_WORKSPACE_BYTES and fpf_options.max_workspace_bytes. Time: every loop a file
       controls runs over tensors (≤ 640; pairwise checks ≤ 640²), weights (≤ file size), anchors
       of the image (their top-k costs O(n log n) whatever the scores), the pre_nms_limit best of
       them, post_nms_rois proposals or det_max_instances detections (docs/HARDENING.md).
*/
#ifndef FPF_H_INCLUDED
#define FPF_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define FPF_VERSION_MAJOR 0
#define FPF_VERSION_MINOR 1
#define FPF_VERSION_PATCH 0
#define FPF_VERSION_STRING "0.1.0"
#define FPF_FORMAT_VERSION 1

#ifndef FPF_DEF
#if defined(FPF_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define FPF_DEF static __attribute__((unused)) /* a program need not call every function */
#elif defined(FPF_STATIC)
#define FPF_DEF static
#else
#define FPF_DEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
   Results */
typedef enum fpf_result {
    FPF_OK = 0,
    FPF_ERR_INVALID_ARG = -1,   /* NULL pointer, bad size or option */
    FPF_ERR_OUT_OF_MEMORY = -2, /* allocator returned NULL, a workspace too small, or one above
                                   fpf_options.max_workspace_bytes or FPF_MAX_WORKSPACE_BYTES */
    FPF_ERR_BAD_MODEL = -3,     /* truncated, corrupt, or inconsistent model file */
    FPF_ERR_MODEL_VERSION = -4, /* wrong magic or format version */
    FPF_ERR_CHECKSUM = -5,      /* checksum mismatch */
    FPF_ERR_BAD_WEIGHTS = -6,   /* NaN or Inf in a weight tensor */
    FPF_ERR_IMAGE_SIZE = -7,    /* zero, too large, or larger than the session was made for */
    FPF_ERR_IO = -8,            /* could not read a file */
    FPF_ERR_ABORTED = -9,       /* the abort callback asked to stop */
    FPF_ERR_MODEL_PAIR = -10,   /* the nucleus model does not fit the main model */
    FPF_ERR_UNSUPPORTED_ISA = -11 /* fpf_options.isa names kernels this build or CPU cannot run */
} fpf_result;
FPF_DEF const char *fpf_result_string(fpf_result r);
FPF_DEF const char *fpf_version(void);

/* ---------------------------------------------------------------------------------------------
   Configuration: every architecture and inference parameter, as stored in the .fpf file. */
typedef enum fpf_variant {
    FPF_VARIANT_CORES = 0,           /* nucleus model: nucleus image in */
    FPF_VARIANT_WITHOUT_NUCLEUS = 1, /* cell image in */
    FPF_VARIANT_WITH_NUCLEUS = 2,    /* one 2-channel image: [cell, nucleus] */
    FPF_VARIANT_FPF_ADD = 3,         /* two towers, pyramids added */
    FPF_VARIANT_FPF_CONCAT = 4       /* two towers, pyramids concatenated [cell, nucleus] */
} fpf_variant;

typedef struct fpf_config {
    int variant;                /* fpf_variant */
    int merge;                  /* 0 none, 1 add, 2 concat; must agree with variant */
    int input_channels;         /* 1, or 2 for with_nucleus */
    int num_classes;            /* 2: background + cell (or nucleus) */
    int stem_width;             /* conv1 filters (64) */
    int blocks[4];              /* blocks in stages 2..5 (2, 2, 4, 2) */
    int bottleneck[4];          /* f1 = f2 of stages 2..5 (32, 64, 128, 256) */
    int stage_out[4];           /* f3 of stages 2..5 (128, 256, 512, 1024) */
    int fpn_width;              /* pyramid depth of one tower (256) */
    int rpn_width;              /* RPN shared conv (512) */
    int fc_width;               /* box head FC (1024) */
    int mask_width;             /* mask head convs (256) */
    int pool_size;              /* 7 */
    int mask_pool_size;         /* 14; masks are 2× this */
    int image_multiple;         /* 64 */
    int anchor_stride;          /* 1 */
    float anchor_scales[5];     /* 32, 64, 128, 256, 512 on P2..P6 */
    float anchor_ratios[3];     /* 0.5, 1, 2 (width / height) */
    int backbone_strides[5];    /* 4, 8, 16, 32, 64 */
    float mean_pixel;           /* 112.5 */
    float pixel_scale;          /* 255 */
    float rpn_nms_threshold;    /* 0.7 */
    int pre_nms_limit;          /* 6000 */
    int post_nms_rois;          /* 500 */
    float rpn_bbox_std[4];      /* 0.1, 0.1, 0.2, 0.2 */
    float bbox_std[4];          /* 0.1, 0.1, 0.2, 0.2 */
    float det_min_confidence;   /* 0.7 */
    float det_nms_threshold;    /* 0.3 */
    int det_max_instances;      /* 200 */
    float roi_canonical_size;   /* 224 */
    int roi_canonical_level;    /* 4 */
    float mask_threshold;       /* 0.5 */
    float bn_epsilon;           /* 1e-3 (already folded; recorded for provenance) */
    float object_diameter;      /* the object diameter in input pixels the model works best at, chosen
                                   when it was trained; 0 = not recorded (files before it, and seeded
                                   models). Scale images by object_diameter / yours (fpf_median_diameter
                                   in fpf_post.h measures yours); fpf_segment --object-diameter uses it */
} fpf_config;

/* Limits of a config (fpf_config_check) and of options (fpf_session_init). The per-RoI work
   and workspace grow with post_nms_rois × pool sizes × widths, so these bounds bound the time
   and memory a checksummed file can ask for. Paper value -> largest accepted (why):
     stem_width 64 -> 256, bottleneck 32..256 -> 1024, stage_out 128..1024 -> 4096,
     fpn_width 256 -> 512, rpn_width 512 -> 1024, fc_width 1024 -> 2048, mask_width 256 -> 512
                                 (2× ResNet-101/FPN widths, the widest published Mask R-CNN);
     blocks 2,2,4,2 -> 1..8 per stage;  pool_size 7 -> 2..14, mask_pool_size 14 -> 2..28 (2×);
     pre_nms_limit 6000 -> FPF_MAX_PRE_NMS (Detectron's training value);
     post_nms_rois 500 -> min(pre_nms_limit, FPF_MAX_PROPOSALS) (proposals come from the top
                                 pre_nms_limit anchors; 2000 = Mask R-CNN's training value);
     det_max_instances 200 -> min(post_nms_rois, FPF_MAX_DETECTIONS) (a detection refines a
                                 proposal; also the bound of fpf_options.det_max_instances);
     image_multiple 64, anchor_stride 1, backbone_strides 4..64, num_classes 2: fixed;
     anchor_scales 32..512 -> [1, 65536] px; anchor_ratios 0.5,1,2 -> [1e-3, 1e3];
     thresholds, det_min_confidence and mask_threshold in [0, 1]; bbox std devs in [0, 100];
     mean_pixel in [-65536, 65536], pixel_scale in [1e-6, 1e9]; roi_canonical_size in [1, 1e5],
     roi_canonical_level 2..5; bn_epsilon in [0, 1]; object_diameter 0 or [1, 1e4].
     Images: 1..FPF_MAX_IMAGE_DIM per side.
   A file's size is at most what its config implies (fpf__max_size: header, table, tensors 64-byte aligned). */
#define FPF_MAX_PRE_NMS 12000
#define FPF_MAX_PROPOSALS 2000
#define FPF_MAX_DETECTIONS 2000
#ifndef FPF_MAX_MODEL_BYTES
#define FPF_MAX_MODEL_BYTES ((uint64_t)1 << 32) /* largest .fpf file (4 GiB) */
#endif
/* Largest session workspace (fpf_session_workspace_size) any session may have: 16 GiB with a
   64-bit size_t, 2 GiB with a 32-bit one. A larger one is refused with FPF_ERR_OUT_OF_MEMORY
   before anything is allocated; fpf_options.max_workspace_bytes sets a lower, per-session limit. */
#ifndef FPF_MAX_WORKSPACE_BYTES
#if SIZE_MAX > 0xFFFFFFFFu
#define FPF_MAX_WORKSPACE_BYTES ((size_t)1 << 34)
#else
#define FPF_MAX_WORKSPACE_BYTES ((size_t)1 << 31)
#endif
#endif

/* The paper's configuration for a variant (spec §1.4). */
FPF_DEF void fpf_config_paper(fpf_config *cfg, fpf_variant variant);
/* FPF_OK when every field is in range and consistent; otherwise FPF_ERR_BAD_MODEL. */
FPF_DEF fpf_result fpf_config_check(const fpf_config *cfg);

/* The conv / dense layers a config implies, in file order (for writers and converters). */
typedef struct fpf_layer_desc {
    char name[64];    /* Keras layer name, e.g. "res2a_branch2a" or "res2a_branch2a_core" */
    char bn_name[64]; /* the BatchNorm folded into it, "" if none */
    int kind;         /* 0 conv: kernel HWIO [kh,kw,cin,cout]; 1 dense: [cin,cout];
                         2 deconv: [2,2,cin,cout] in .fpf (Keras stores (2,2,cout,cin)) */
    int kh, kw, cin, cout;
} fpf_layer_desc;
/* Fills up to max descriptors and returns how many the config has (at most FPF_MAX_LAYERS). */
#define FPF_MAX_LAYERS 160
FPF_DEF int fpf_config_layers(const fpf_config *cfg, fpf_layer_desc *out, int max);
/* Config block <-> the 64 words of the file header. */
FPF_DEF void fpf_config_to_words(const fpf_config *cfg, uint32_t words[64]);
FPF_DEF void fpf_config_from_words(fpf_config *cfg, const uint32_t words[64]);
/* The checksum of a complete file image (the checksum field, bytes 24..31, counts as zero). */
FPF_DEF uint64_t fpf_checksum(const void *file, size_t size);

/* ---------------------------------------------------------------------------------------------
   Allocation */
typedef struct fpf_allocator {
    void *(*alloc)(size_t size, size_t align, void *user); /* align is a power of two <= 64 */
    void (*free)(void *ptr, void *user);
    void *user;
} fpf_allocator; /* a zero struct means FPF_MALLOC / FPF_FREE */

/* ---------------------------------------------------------------------------------------------
   Models */
typedef struct fpf_model fpf_model;

/* Copies the file image into memory the model owns (64-byte aligned). alloc may be NULL. */
FPF_DEF fpf_result fpf_model_load_memory(const void *data, size_t size, const fpf_allocator *alloc,
                                         fpf_model **out, char *msg, size_t msg_size);
/* Uses data in place: it must be 64-byte aligned and outlive the model. */
FPF_DEF fpf_result fpf_model_load_inplace(const void *data, size_t size, const fpf_allocator *alloc,
                                          fpf_model **out, char *msg, size_t msg_size);
#ifndef FPF_NO_STDIO
FPF_DEF fpf_result fpf_model_load_file(const char *path, const fpf_allocator *alloc,
                                       fpf_model **out, char *msg, size_t msg_size);
#endif
FPF_DEF void fpf_model_free(fpf_model *model);
FPF_DEF const fpf_config *fpf_model_config(const fpf_model *model);
/* Looks up a tensor by name ("conv1/kernel"); NULL if absent. dims gets up to 4 sizes (the file's
   shape). Kernels of a model loaded with _file or _memory come back in the packed layout. The
   kernel of an int8 layer (fpf_model_layers: bits 8) is the file's s8 data, not floats. */
FPF_DEF const float *fpf_model_tensor(const fpf_model *model, const char *name, int *ndim, int dims[4]);
/* Bytes of weights in the file. */
FPF_DEF size_t fpf_model_weight_bytes(const fpf_model *model);
/* Per-layer precision: fills up to max entries (fpf_config_layers order), returns the count. */
typedef struct fpf_layer_info {
    fpf_layer_desc desc;
    int bits;          /* 32: fp32 layer; 8: int8 weights (per-channel scales) and u8 input */
    float in_scale;    /* int8: s_x and z_x of the input; 0 for fp32 */
    int in_zero;
    int winograd;      /* 1: an fp32 3×3 conv run as Winograd F(2×2, 3×3) (fpf_options.conv3x3) */
} fpf_layer_info;
FPF_DEF int fpf_model_layers(const fpf_model *model, fpf_layer_info *out, int max);

/* ---------------------------------------------------------------------------------------------
   Images */
typedef struct fpf_image {
    const void *pixels; /* first row */
    int width, height;
    int bits;           /* 8 or 16 (uint16 in host byte order) */
    size_t stride;      /* bytes between rows */
} fpf_image;
FPF_DEF fpf_image fpf_image_u8(const uint8_t *pixels, int width, int height, size_t stride);
FPF_DEF fpf_image fpf_image_u16(const uint16_t *pixels, int width, int height, size_t stride);

typedef struct fpf_input {
    fpf_image cell;    /* the cell (cytoplasm) image: without_nucleus, with_nucleus, FPF */
    fpf_image nucleus; /* the nucleus image: cores, with_nucleus, FPF, and any nucleus model */
} fpf_input;

/* ---------------------------------------------------------------------------------------------
   Options (a zero struct gives the defaults) */
typedef enum fpf_norm16_mode {
    FPF_NORM16_PERCENTILE = 0, /* [percentile lo, percentile hi] -> [0, 255], clipped */
    FPF_NORM16_FIXED = 1,      /* [lo, hi] -> [0, 255], clipped */
    FPF_NORM16_NONE = 2        /* values used as they are (data already in 0..255) */
} fpf_norm16_mode;

/* Instruction sets of the convolution kernels. AUTO picks the best one this CPU runs, once, at
   session set-up (cpuid on x86-64; NEON is always there on aarch64). Every SIMD path fuses each
   multiply-add (one rounding), so its results are bit-identical to the fused reference and to
   the other SIMD paths; SCALAR rounds product and sum separately (last-bit differences). */
typedef enum fpf_isa {
    FPF_ISA_AUTO = 0,
    FPF_ISA_SCALAR = 1,  /* portable C (compile with -DFPF_NO_SIMD to have only this) */
    FPF_ISA_AVX2 = 2,    /* x86-64 AVX2 + FMA */
    FPF_ISA_AVX512 = 3,  /* x86-64 AVX-512F */
    FPF_ISA_NEON = 4     /* aarch64 Advanced SIMD */
} fpf_isa;
FPF_DEF int fpf_isa_supported(fpf_isa isa);   /* 1 if this build on this CPU can run isa */
FPF_DEF const char *fpf_isa_name(fpf_isa isa);

/* Kernels of the int8 layers (u8 × s8, exact int32 sums: every row gives the same bits). AUTO
   picks the best this CPU runs (cpuid; hwcaps on aarch64), or SCALAR when fpf_options.isa is
   FPF_ISA_SCALAR. */
typedef enum fpf_qisa {
    FPF_QISA_AUTO = 0,
    FPF_QISA_SCALAR = 1,
    FPF_QISA_AVX2 = 2,       /* AVX2 without VNNI: widened to int16, vpmaddwd */
    FPF_QISA_AVXVNNI = 3,    /* VEX vpdpbusd on ymm */
    FPF_QISA_AVX512VNNI = 4, /* vpdpbusd on zmm */
    FPF_QISA_NEON = 5,       /* widened to int16, vmlal */
    FPF_QISA_NEONDOT = 6,    /* sdot (dot-product extension, HWCAP_ASIMDDP) */
    FPF_QISA_AMX = 7         /* Intel AMX-INT8 tiles (tdpbusd), Linux x86-64; AVX-512 epilogue */
} fpf_qisa;
FPF_DEF int fpf_qisa_supported(fpf_qisa isa);
FPF_DEF const char *fpf_qisa_name(fpf_qisa isa);

/* Calibration: called with the input of every conv / dense layer before it runs (the rows the
   layer reads, h × w pixels of c channels, ld floats apart), layer = index in fpf_config_layers
   order. Called from the thread that runs the session, in network order. */
typedef void (*fpf_conv_input_fn)(void *user, int layer, const float *data, int h, int w, int c, int ld);

typedef void (*fpf_task_fn)(void *ctx, int task);
typedef void (*fpf_parallel_for_fn)(void *pool, fpf_task_fn fn, void *ctx, int n_tasks);
/* Called with every intermediate tensor when set (parity tests, debugging). The tensor has ndim
   dims; consecutive "rows" of the last dim are ld floats apart (ld = dims[ndim-1] if packed). */
typedef void (*fpf_stage_fn)(void *user, const char *name, const float *data, int ndim,
                             const int *dims, int ld);

typedef struct fpf_options {
    fpf_allocator allocator;
    fpf_parallel_for_fn parallel_for; /* the caller's pool: run fn(ctx, i) for i in [0, n) */
    void *pool;
    int n_threads;             /* no parallel_for: 0 or 1 = the calling thread only; N > 1 = the
                                  built-in pthreads pool, N − 1 workers started at session set-up
                                  (compiled out by FPF_NO_THREADS: then always 1) */
    int isa;                   /* fpf_isa; 0 = AUTO */
    int norm16;                /* fpf_norm16_mode */
    float norm16_lo, norm16_hi; /* FIXED: intensities, finite, lo < hi; PERCENTILE: percents in
                                   [0, 100], lo < hi (0 and 0 = 0.1, 99.9) */
    float det_min_confidence;  /* 0 = the model's (0.7) */
    int det_max_instances;     /* 0 = the model's (200); at most 65536. Per image (per tile when tiled) */
    int max_proposals;         /* 0 = the model's post_nms_rois (500); at most 65536. More proposals
                                  find more objects in dense images, at a cost in time and memory */
    int stable_nms_ties;       /* 0 = TF heap tie order (§6.4, default); 1 = lower index first */
    int drop_padding_detections; /* 1 drops detections that come from zero-padded proposals (§6.3) */
    fpf_stage_fn stage;        /* optional tensor dump callback */
    void *stage_user;
    int (*abort_check)(void *user); /* optional: return non-zero to stop between layers */
    void *abort_user;
    int int8_isa;              /* fpf_qisa of the int8 layers; 0 = AUTO */
    fpf_conv_input_fn conv_input; /* optional: calibration (fpf_quantize) */
    void *conv_input_user;
    char *init_msg;            /* optional: where a failed fpf_session_init (or _preallocated, or
                                  _workspace_size) writes its one-line message, NUL-terminated */
    size_t init_msg_size;      /* bytes at init_msg */
    int int8_requantize;       /* 1: every int8 layer quantizes the float map it reads, also inside
                                  the int8 chains of the stages and the FPN (the reference twin of
                                  the 8-bit chains; the same bits, slower); 0 = chains stay 8-bit */
    size_t max_workspace_bytes; /* 0 = no limit but FPF_MAX_WORKSPACE_BYTES; else a session whose
                                  workspace would need more is refused (FPF_ERR_OUT_OF_MEMORY, and
                                  init_msg names the bytes needed and allowed) before anything is
                                  allocated. Tiling bounds the workspace by the tile size */
    int block_rows;            /* the bottleneck blocks run a band of this many output rows at a
                                  time, so each block's maps stay in cache (§2.1, §13): 0 = the
                                  default, 8 rows in res2 and res3 (the largest maps), whole maps
                                  in res4 and res5; N > 0 =
                                  N rows in every stage; < 0 = whole maps everywhere, the reference
                                  twin (two whole-map buffers more). Any value gives the same bits.
                                  Calibration (conv_input) always runs whole maps */
    int conv3x3;               /* fpf_conv3x3: how the fp32 3×3 convs of the FPN, RPN and mask head run */
} fpf_options;

/* fpf_options.conv3x3. WINOGRAD computes each 2×2 block of outputs with 16 multiply-adds per input
   and output channel instead of 36 (F(2×2, 3×3), section "Winograd" of the implementation): about
   1.4× faster end to end, same bits on every kernel row and thread count, but rounded differently
   from the direct conv (relative differences ~1e-6 of a layer's scale; docs/ARCHITECTURE.md §13).
   DIRECT sums Σ x·w in the reference order (what fpf_quantize calibrates with). int8 layers are
   always direct. */
typedef enum fpf_conv3x3 {
    FPF_CONV3X3_WINOGRAD = 0, /* default */
    FPF_CONV3X3_DIRECT = 1
} fpf_conv3x3;

/* ---------------------------------------------------------------------------------------------
   Sessions and outputs */
typedef struct fpf_instance {
    int y1, x1, y2, x2;   /* pixel box in the input image; y2, x2 exclusive */
    float score;          /* class probability */
    int class_id;         /* 1 = cell (or nucleus) */
    const float *mask28;  /* [28][28] sigmoid probabilities of class_id, row-major */
    int mask_size;        /* 28 (twice the mask pool size) */
    float threshold;      /* mask threshold (0.5) used by fpf_instance_paste */
    float mask_min, mask_max; /* range of mask28 (resize clips to it, as skimage's clip=True) */
    int from_padding;     /* 1 if it came from a zero-padded proposal (§6.3) */
} fpf_instance;

typedef struct fpf_output {
    int height, width;    /* the input image size */
    int n_cells;          /* detections of the main model (nuclei for a "cores" main model) */
    const fpf_instance *cells;
    int n_nuclei;         /* detections of the nucleus model, when one was given */
    const fpf_instance *nuclei;
    int shared_nucleus_pyramid; /* 1 when the FPF nucleus tower was computed once for both */
    int max_detections;   /* the detection maximum of this run (per tile when tiled) */
    int cells_over_max;   /* detections that passed the score and NMS but were dropped at that */
    int nuclei_over_max;  /*   maximum (0 = nothing was truncated); raise det_max_instances or tile */
} fpf_output;

typedef struct fpf_session fpf_session;

/* nucleus may be NULL. It must be a "cores" model with the same input conventions. All three
   refuse (FPF_ERR_OUT_OF_MEMORY) a workspace above FPF_MAX_WORKSPACE_BYTES or
   fpf_options.max_workspace_bytes, before anything is allocated. */
FPF_DEF fpf_result fpf_session_workspace_size(const fpf_model *model, const fpf_model *nucleus,
                                              int max_height, int max_width,
                                              const fpf_options *opt, size_t *bytes);
FPF_DEF fpf_result fpf_session_init(const fpf_model *model, const fpf_model *nucleus,
                                    int max_height, int max_width, const fpf_options *opt,
                                    fpf_session **out);
/* buf: at least fpf_session_workspace_size bytes, 64-byte aligned, owned by the caller. */
FPF_DEF fpf_result fpf_session_init_preallocated(const fpf_model *model, const fpf_model *nucleus,
                                                 int max_height, int max_width,
                                                 const fpf_options *opt, void *buf, size_t bytes,
                                                 fpf_session **out);
FPF_DEF void fpf_session_free(fpf_session *s);
/* Runs the whole network. *out points into the session and stays valid until the next run. */
FPF_DEF fpf_result fpf_session_run(fpf_session *s, const fpf_input *in, const fpf_output **out);
FPF_DEF const char *fpf_session_message(const fpf_session *s);
FPF_DEF fpf_isa fpf_session_isa(const fpf_session *s);  /* the kernels this session runs */
FPF_DEF fpf_qisa fpf_session_qisa(const fpf_session *s); /* its int8 kernels */
/* Replaces the session's stage callback (fpf_options.stage, stage_user) for the runs that follow;
   fn NULL turns it off. A benchmark can so time runs with and without it on one session. */
FPF_DEF void fpf_session_set_stage(fpf_session *s, fpf_stage_fn fn, void *user);

/* Writes the instance's binary mask (1 inside), (y2−y1) rows of (x2−x1) bytes, rows dst_stride
   bytes apart. Returns the number of mask pixels. */
FPF_DEF long fpf_instance_paste(const fpf_instance *inst, uint8_t *dst, size_t dst_stride);
/* One pixel of that mask: 1 if box-relative pixel (r, c) is inside the instance. */
FPF_DEF int fpf_instance_mask_pixel(const fpf_instance *inst, int r, int c);

/* ---------------------------------------------------------------------------------------------
   Tiling: images of any size through a tile-sized session, stitched without seams.

   The network sees the image (resampled by `scale` first, when given) tile by tile; tiles are
   `tile` pixels square and share `overlap` pixels with their neighbours. Every tile has the
   session's own detection budget, so there is no image-wide cap. A tile's core is the tile less
   half the overlap on each side it shares with a neighbour; the cores partition the image.
   Stitching rule, per instance of a tile:
     - owner: it is kept only if the centre of its box lies in the tile's core. An object no
       larger than the overlap whose centre lies in a core lies whole inside that tile;
     - cut: a box that touches a shared tile edge (within 2 px) is a cut half and dropped;
     - duplicate: an instance whose box overlaps one kept from another tile with IoU > the model's
       detection NMS threshold (0.3) is the same object, found by two tiles with its centre on
       either side of a core boundary: it is kept once, from the tile where it lies furthest from
       the shared edges (ties: the earlier tile);
   Instances come back in input pixels (boxes divided by `scale`, masks pasted at full
   resolution), sorted by descending score. 16-bit percentile normalization uses the whole
   image's percentiles, so every tile sees the same intensity mapping. An image that fits in one
   tile at scale 1 gives the session's own result, bit for bit. Memory: the session (one tile),
   two tile buffers when scale != 1, and the stitched instances (~3.2 KB each), grown through the
   session's allocator between tiles. */
typedef struct fpf_tile_options {
    int tile;     /* tile side in network pixels; 0 = the session's maximum height and width */
    int overlap;  /* pixels shared by neighbouring tiles, < tile / 2; 0 = 128 (objects up to 128 px) */
    float scale;  /* resample the input by this factor first (0 = 1); 0.05 .. 20 */
} fpf_tile_options;

typedef struct fpf_tiler fpf_tiler;
/* The tiler runs on session s (which must take tile × tile images) and lives no longer than it. */
FPF_DEF fpf_result fpf_tiler_init(fpf_session *s, const fpf_tile_options *opt, fpf_tiler **out);
FPF_DEF void fpf_tiler_free(fpf_tiler *t);
/* Like fpf_session_run, for any image size up to FPF_MAX_IMAGE_DIM. *out stays valid until the
   next run; out->cells_over_max and nuclei_over_max add up the tiles. Errors: the session's
   message (fpf_session_message). */
FPF_DEF fpf_result fpf_tiler_run(fpf_tiler *t, const fpf_input *in, const fpf_output **out);
FPF_DEF int fpf_tiler_tiles(const fpf_tiler *t); /* tiles in the last run */

#ifdef __cplusplus
}
#endif
#endif /* FPF_H_INCLUDED */

/* =============================================================================================
   IMPLEMENTATION

   Contents, in file order (search for the heading):
       Small helpers           results, messages, checked arithmetic, allocation
       Configuration           the paper's config, config words, range checks
       Layer list              every conv/dense/deconv a config implies (§12.2), in file order
       Model file              loader: table checks, finiteness, weight packing into panels, Winograd U
       Kernels                 fpf__map, the conv epilogue flags, block kernels per ISA and their
                               __ref twins, the kernel table, task tiling, Winograd F(2×2, 3×3),
                               max-pool, deconv
       The built-in thread pool
       Session state           the arena, pyramids, stage dumps
       1. Input molding        §1.4, §4.3
       2. Backbone             stem, bottleneck stages (§2), FPN (§3)
       3. Anchors              §5
       4. Box arithmetic       §6.2, §6.4, §7
       5. Ordering             top-k, NMS (§6.4)
       6. RoIAlign             §7
       7. Heads                RPN (§6), proposals, box head (§8), detection (§9), mask head (§10)
       8. The forward pass     towers, fusion, heads: fpf__model_pass
       9. Sessions             workspace layout, init, run

   Dimension letters:
       H, W     height and width of the image (Hp, Wp: padded to multiples of 64; in fpf__rpn, of
                the pyramid level at hand); h, w of any map
       C        channels of a map; cin, cout of a conv; ld the floats between two pixels
       Fw       one tower's pyramid depth (fpn_width, 256)
       D        the pyramid depth the heads see: Fw, or 2·Fw for FPF-concat (fpf__depth)
       F        the fused pyramid F2..F6 (an fpf__pyr); P2..P6 one tower's; Pn the nucleus model's
       C1..C5   backbone stage outputs; L2..L5 the FPN's top-down maps before the 3×3 smoothing
       A        anchors of the whole image (Σ over levels of h·w·FPF__A; FPF__A = 3 per location)
       R        RoIs per image (post_nms_rois, 500); n real ones, the rest zero-padded
       K        classes (num_classes, 2: background + cell)
       P, MP    RoIAlign sizes of the box head (pool_size 7) and mask head (mask_pool_size 14)
       Mw       mask head width (mask_width, 256); masks are 2·MP = 28 square
       px, cb   a block kernel's tile: output pixels × output channels
   ============================================================================================= */
#if defined(FPF_IMPLEMENTATION) || defined(FPF_ALL_IMPLEMENTATION)
#ifndef FPF_IMPLEMENTATION_INCLUDED
#define FPF_IMPLEMENTATION_INCLUDED

#include <float.h>
#include <math.h>
#include <string.h>
#ifndef FPF_NO_STDIO
#include <stdio.h>
#endif

#if defined(FPF_MALLOC) != defined(FPF_FREE)
#error "define both FPF_MALLOC and FPF_FREE, or neither"
#endif
#ifndef FPF_MALLOC
#include <stdlib.h>
#define FPF_MALLOC(size) malloc(size)
#define FPF_FREE(ptr) free(ptr)
#endif
#ifndef FPF_MAX_IMAGE_DIM
#define FPF_MAX_IMAGE_DIM 32768
#endif
#ifndef FPF_ASSERT
#define FPF_ASSERT(cond) ((void)0)
#endif
#if !defined(FPF_NO_SIMD) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FPF__X86 1
#include <immintrin.h>
#include <cpuid.h>
static int fpf__cpu_avxvnni(void) { /* CPUID.(EAX=7, ECX=1):EAX bit 4 (not every compiler's cpu_supports knows it) */
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (int)((a >> 4) & 1);
}
/* Intel AMX-INT8: CPUID.(EAX=7, ECX=0):EDX bits 24 (AMX-TILE) and 25 (AMX-INT8), and Linux's
   per-process permission for the 8 KiB tile state, asked for once more on every check:
   arch_prctl(ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18), a raw syscall (158) so that
   no feature macro is needed for syscall(2). It fails on kernels before 5.16. Granting it enlarges
   every signal frame of the process (a small sigaltstack may then overflow). Older compilers
   lack the intrinsics, and other systems have no such request: there the row is absent. */
#if !defined(FPF_NO_AMX) && defined(__linux__) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11))
#define FPF__AMX 1
static int fpf__cpu_amx(void) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    long r = 158; /* SYS_arch_prctl */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!((d >> 24) & 1) || !((d >> 25) & 1)) return 0;
    __asm__ volatile("syscall" : "+a"(r) : "D"(0x1023L), "S"(18L) : "rcx", "r11", "memory");
    return r == 0;
}
#endif
#endif
#if !defined(FPF_NO_SIMD) && defined(__aarch64__)
#define FPF__NEON 1
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif
static int fpf__hwcap_dotprod(void) { /* HWCAP_ASIMDDP */
#if defined(__linux__)
    return (int)((getauxval(AT_HWCAP) >> 20) & 1);
#else
    return 0;
#endif
}
#endif
#ifndef FPF_NO_THREADS
#include <pthread.h>
#endif

/* The post-processing follows TF's float32 operation order; a fused multiply-add would change it. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* Helpers inside a kernel's tap loop: a call there would make the compiler spill the vector
   accumulators (every zmm is caller-saved), so these are always inlined. */
#if defined(__GNUC__) || defined(__clang__)
#define FPF__INLINE static inline __attribute__((always_inline))
#else
#define FPF__INLINE static inline
#endif

/* Reference twins (__ref) are compiled always; only the tests call some of them. */
#if defined(__GNUC__) || defined(__clang__)
#define FPF__REF_TWIN __attribute__((unused)) static
#else
#define FPF__REF_TWIN static
#endif

#define FPF__ALIGN 64
#define FPF__BAND 32    /* rows per band where a big map is made a band at a time */
#define FPF__ZEROS 4096 /* floats of fpf__zeros, the row that taps outside the input read */
#define FPF__BLOCK_ROWS 8 /* output rows per band of a bottleneck block (fpf_options.block_rows) */
#define FPF__BANDED_STAGES 2 /* stages with banded blocks by default: res2, res3 */
#define FPF__MASK_BATCH 8 /* detections per batch of the mask head */
#define FPF__MAXB 8     /* most blocks per stage a config may ask for */
#define FPF__A 3        /* anchors per location (three ratios) */

/* ---------------------------------------------------------------------------------------------
   Small helpers: results, messages, checked arithmetic, allocation */

FPF_DEF const char *fpf_version(void) { return FPF_VERSION_STRING; }

FPF_DEF const char *fpf_result_string(fpf_result r) {
    switch (r) {
    case FPF_OK: return "ok";
    case FPF_ERR_INVALID_ARG: return "invalid argument";
    case FPF_ERR_OUT_OF_MEMORY: return "out of memory";
    case FPF_ERR_BAD_MODEL: return "bad model file";
    case FPF_ERR_MODEL_VERSION: return "not an fpf model of a supported version";
    case FPF_ERR_CHECKSUM: return "model checksum mismatch";
    case FPF_ERR_BAD_WEIGHTS: return "non-finite weights";
    case FPF_ERR_IMAGE_SIZE: return "unsupported image size";
    case FPF_ERR_IO: return "i/o error";
    case FPF_ERR_ABORTED: return "aborted";
    case FPF_ERR_MODEL_PAIR: return "nucleus model does not fit the main model";
    case FPF_ERR_UNSUPPORTED_ISA: return "instruction set not supported by this build or CPU";
    }
    return "unknown error";
}

/* Writes "<a><b><c>" into dst (truncating, always terminated). */
static void fpf__msg3(char *dst, size_t n, const char *a, const char *b, const char *c) {
    size_t k = 0;
    const char *parts[3];
    int i;
    if (!dst || n == 0) return;
    parts[0] = a; parts[1] = b; parts[2] = c;
    for (i = 0; i < 3; i++)
        for (const char *p = parts[i]; p && *p && k + 1 < n; p++) dst[k++] = *p;
    dst[k] = 0;
}
/* Decimal digits of v into buf (at least 24 bytes); returns buf. */
static const char *fpf__num(char *buf, size_t v) {
    char t[24];
    int n = 0, i = 0;
    do { t[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) buf[i++] = t[--n];
    buf[i] = 0;
    return buf;
}
/* size_t arithmetic that reports overflow instead of wrapping. */
static int fpf__mul(size_t a, size_t b, size_t *r) {
    if (a && b > (size_t)-1 / a) return 0;
    *r = a * b;
    return 1;
}
static int fpf__add(size_t a, size_t b, size_t *r) {
    if (b > (size_t)-1 - a) return 0;
    *r = a + b;
    return 1;
}

static void *fpf__alloc(const fpf_allocator *a, size_t size) {
    if (a && a->alloc) return a->alloc(size, FPF__ALIGN, a->user);
    {   /* malloc gives 16-byte alignment; over-allocate and keep the offset just before the block */
        unsigned char *raw = (unsigned char *)FPF_MALLOC(size + FPF__ALIGN);
        size_t off;
        if (!raw) return NULL;
        off = FPF__ALIGN - ((uintptr_t)raw & (FPF__ALIGN - 1));
        raw[off - 1] = (unsigned char)off;
        return raw + off;
    }
}
static void fpf__free(const fpf_allocator *a, void *p) {
    if (!p) return;
    if (a && a->alloc) { if (a->free) a->free(p, a->user); return; }
    {
        unsigned char *q = (unsigned char *)p;
        FPF_FREE(q - q[-1]);
    }
}

static uint32_t fpf__rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t fpf__rd64(const uint8_t *p) {
    return (uint64_t)fpf__rd32(p) | (uint64_t)fpf__rd32(p + 4) << 32;
}

/* ---------------------------------------------------------------------------------------------
   Configuration */

FPF_DEF void fpf_config_paper(fpf_config *c, fpf_variant variant) {
    static const int blocks[4] = {2, 2, 4, 2}, f1[4] = {32, 64, 128, 256}, f3[4] = {128, 256, 512, 1024};
    int i;
    memset(c, 0, sizeof *c);
    c->variant = (int)variant;
    c->merge = variant == FPF_VARIANT_FPF_ADD ? 1 : variant == FPF_VARIANT_FPF_CONCAT ? 2 : 0;
    c->input_channels = variant == FPF_VARIANT_WITH_NUCLEUS ? 2 : 1;
    c->num_classes = 2;
    c->stem_width = 64;
    for (i = 0; i < 4; i++) { c->blocks[i] = blocks[i]; c->bottleneck[i] = f1[i]; c->stage_out[i] = f3[i]; }
    c->fpn_width = 256; c->rpn_width = 512; c->fc_width = 1024; c->mask_width = 256;
    c->pool_size = 7; c->mask_pool_size = 14; c->image_multiple = 64; c->anchor_stride = 1;
    for (i = 0; i < 5; i++) { c->anchor_scales[i] = (float)(32 << i); c->backbone_strides[i] = 4 << i; }
    c->anchor_ratios[0] = 0.5f; c->anchor_ratios[1] = 1.0f; c->anchor_ratios[2] = 2.0f;
    c->mean_pixel = 112.5f; c->pixel_scale = 255.0f;
    c->rpn_nms_threshold = 0.7f; c->pre_nms_limit = 6000; c->post_nms_rois = 500;
    c->rpn_bbox_std[0] = c->rpn_bbox_std[1] = 0.1f; c->rpn_bbox_std[2] = c->rpn_bbox_std[3] = 0.2f;
    c->bbox_std[0] = c->bbox_std[1] = 0.1f; c->bbox_std[2] = c->bbox_std[3] = 0.2f;
    c->det_min_confidence = 0.7f; c->det_nms_threshold = 0.3f; c->det_max_instances = 200;
    c->roi_canonical_size = 224.0f; c->roi_canonical_level = 4; c->mask_threshold = 0.5f;
    c->bn_epsilon = 1e-3f;
}

/* The config block: word k of the file holds the field listed at index k. */
typedef struct fpf__cfg_field { size_t offset; int is_float, count; } fpf__cfg_field;
#define FPF__F(field, isf, n) { offsetof(fpf_config, field), isf, n }
static const fpf__cfg_field fpf__cfg_fields[] = {
    FPF__F(variant, 0, 1), FPF__F(merge, 0, 1), FPF__F(input_channels, 0, 1),
    FPF__F(num_classes, 0, 1), FPF__F(stem_width, 0, 1), FPF__F(blocks, 0, 4),
    FPF__F(bottleneck, 0, 4), FPF__F(stage_out, 0, 4), FPF__F(fpn_width, 0, 1),
    FPF__F(rpn_width, 0, 1), FPF__F(fc_width, 0, 1), FPF__F(mask_width, 0, 1),
    FPF__F(pool_size, 0, 1), FPF__F(mask_pool_size, 0, 1), FPF__F(image_multiple, 0, 1),
    FPF__F(anchor_stride, 0, 1), FPF__F(anchor_scales, 1, 5), FPF__F(anchor_ratios, 1, 3),
    FPF__F(backbone_strides, 0, 5), FPF__F(mean_pixel, 1, 1), FPF__F(pixel_scale, 1, 1),
    FPF__F(rpn_nms_threshold, 1, 1), FPF__F(pre_nms_limit, 0, 1), FPF__F(post_nms_rois, 0, 1),
    FPF__F(rpn_bbox_std, 1, 4), FPF__F(bbox_std, 1, 4), FPF__F(det_min_confidence, 1, 1),
    FPF__F(det_nms_threshold, 1, 1), FPF__F(det_max_instances, 0, 1),
    FPF__F(roi_canonical_size, 1, 1), FPF__F(roi_canonical_level, 0, 1),
    FPF__F(mask_threshold, 1, 1), FPF__F(bn_epsilon, 1, 1), FPF__F(object_diameter, 1, 1)};
#undef FPF__F

FPF_DEF void fpf_config_to_words(const fpf_config *cfg, uint32_t words[64]) {
    size_t f;
    int k = 0, i;
    memset(words, 0, 64 * sizeof(uint32_t));
    for (f = 0; f < sizeof fpf__cfg_fields / sizeof fpf__cfg_fields[0]; f++) {
        const char *base = (const char *)cfg + fpf__cfg_fields[f].offset;
        for (i = 0; i < fpf__cfg_fields[f].count; i++, k++) {
            int32_t v;
            memcpy(&v, base + 4 * i, 4); /* int and float fields are both 4 bytes */
            words[k] = (uint32_t)v;
        }
    }
}
FPF_DEF void fpf_config_from_words(fpf_config *cfg, const uint32_t words[64]) {
    size_t f;
    int k = 0, i;
    memset(cfg, 0, sizeof *cfg);
    for (f = 0; f < sizeof fpf__cfg_fields / sizeof fpf__cfg_fields[0]; f++) {
        char *base = (char *)cfg + fpf__cfg_fields[f].offset;
        for (i = 0; i < fpf__cfg_fields[f].count; i++, k++) memcpy(base + 4 * i, &words[k], 4);
    }
}

static int fpf__in(int v, int lo, int hi) { return v >= lo && v <= hi; }
static int fpf__fin(float v, float lo, float hi) { return v >= lo && v <= hi; } /* false for NaN */

FPF_DEF fpf_result fpf_config_check(const fpf_config *c) {
    int i, ok = 1;
    if (!c) return FPF_ERR_INVALID_ARG;
    ok &= fpf__in(c->variant, 0, 4) && fpf__in(c->merge, 0, 2);
    ok &= c->merge == (c->variant == FPF_VARIANT_FPF_ADD ? 1 : c->variant == FPF_VARIANT_FPF_CONCAT ? 2 : 0);
    ok &= c->input_channels == (c->variant == FPF_VARIANT_WITH_NUCLEUS ? 2 : 1);
    ok &= c->num_classes == 2 && fpf__in(c->stem_width, 1, 256);
    for (i = 0; i < 4; i++)
        ok &= fpf__in(c->blocks[i], 1, FPF__MAXB) && fpf__in(c->bottleneck[i], 1, 1024) &&
              fpf__in(c->stage_out[i], 1, 4096);
    ok &= fpf__in(c->fpn_width, 1, 512) && fpf__in(c->rpn_width, 1, 1024);
    ok &= fpf__in(c->fc_width, 1, 2048) && fpf__in(c->mask_width, 1, 512);
    ok &= fpf__in(c->pool_size, 2, 14) && fpf__in(c->mask_pool_size, 2, 28);
    ok &= c->image_multiple == 64 && c->anchor_stride == 1;
    for (i = 0; i < 5; i++)
        ok &= fpf__fin(c->anchor_scales[i], 1.0f, 65536.0f) && c->backbone_strides[i] == (4 << i);
    for (i = 0; i < 3; i++) ok &= fpf__fin(c->anchor_ratios[i], 1e-3f, 1e3f);
    ok &= fpf__fin(c->mean_pixel, -65536.0f, 65536.0f) && fpf__fin(c->pixel_scale, 1e-6f, 1e9f);
    ok &= fpf__fin(c->rpn_nms_threshold, 0.0f, 1.0f) && fpf__in(c->pre_nms_limit, 1, FPF_MAX_PRE_NMS);
    ok &= fpf__in(c->post_nms_rois, 1, FPF_MAX_PROPOSALS) && c->post_nms_rois <= c->pre_nms_limit;
    for (i = 0; i < 4; i++)
        ok &= fpf__fin(c->rpn_bbox_std[i], 0.0f, 100.0f) && fpf__fin(c->bbox_std[i], 0.0f, 100.0f);
    ok &= fpf__fin(c->det_min_confidence, 0.0f, 1.0f) && fpf__fin(c->det_nms_threshold, 0.0f, 1.0f);
    ok &= fpf__in(c->det_max_instances, 1, FPF_MAX_DETECTIONS) && c->det_max_instances <= c->post_nms_rois;
    ok &= fpf__fin(c->roi_canonical_size, 1.0f, 1e5f) && fpf__in(c->roi_canonical_level, 2, 5);
    ok &= fpf__fin(c->mask_threshold, 0.0f, 1.0f) && fpf__fin(c->bn_epsilon, 0.0f, 1.0f);
    ok &= c->object_diameter == 0.0f || fpf__fin(c->object_diameter, 1.0f, 10000.0f);
    return ok ? FPF_OK : FPF_ERR_BAD_MODEL;
}

/* Depth of the pyramid the RPN and the heads see: D = 2 × FPN width for concat. */
static int fpf__depth(const fpf_config *c) { return c->merge == 2 ? 2 * c->fpn_width : c->fpn_width; }
static int fpf__is_fpf(const fpf_config *c) { return c->merge != 0; }

/* ---------------------------------------------------------------------------------------------
   Layer list (spec §12.2). Everything that has weights is a conv, a dense layer or the deconv,
   each with a kernel and a bias; BatchNorms are folded into the conv before them. */

typedef struct fpf__conv {
    const float *w; /* HWIO [kh][kw][cin][cout] (dense: [cin][cout]; deconv: [2][2][cin][cout]) */
    const float *b; /* [cout] */
    int kh, kw, cin, cout;
    const float *wp; /* w packed for the kernels (fpf__pack): panels of 16 output channels, each
                        [kh][kw][cin][16], zero past cout; panel p at wp + p·pstride */
    size_t pstride;
    const float *wino; /* 3×3 fp32 layers run as Winograd F(2×2, 3×3): U = G g Gᵀ, 16 × [cin][cout]
                          packed as 1×1 convs (fpf__wino_pack), or NULL */
    const struct fpf__qconv *q; /* int8 layer (section "int8"), else NULL: then w, wp are unused */
    int layer;                  /* index in fpf_config_layers order (calibration, fpf_model_layers) */
} fpf__conv;

typedef struct fpf__tower {                 /* backbone + FPN of one input */
    fpf__conv conv1;
    fpf__conv block[4][FPF__MAXB][4];       /* stage 2..5, block, {2a, 2b, 2c, shortcut 1} */
    fpf__conv lateral[4];                   /* fpn_c2p2 .. fpn_c5p5 */
    fpf__conv smooth[4];                    /* fpn_p2 .. fpn_p5 */
} fpf__tower;

typedef struct fpf__heads {
    fpf__conv rpn_conv, rpn_class, rpn_bbox;                 /* rpn_model */
    fpf__conv rpn_head; /* rpn_class ‖ rpn_bbox as one 1×1 conv to 18 channels, made at load by
                           fpf__rpn_head_prepare (not a layer of the file); cout 0: none */
    fpf__conv cls_conv1, cls_conv2, cls_logits, bbox_fc;     /* box head (fpn_classifier_graph) */
    fpf__conv mask_conv[4], mask_deconv, mask_out;           /* mask head (build_fpn_mask_graph) */
} fpf__heads;

typedef struct fpf__layer_list {
    fpf_layer_desc *desc;
    fpf__conv **slot;
    int n, max;
} fpf__layer_list;

static void fpf__emit(fpf__layer_list *L, fpf__conv *slot, int kind, int kh, int kw, int cin,
                      int cout, const char *name, const char *sfx, const char *bn) {
    if (L->n < L->max) {
        fpf_layer_desc *d = &L->desc[L->n];
        fpf__msg3(d->name, sizeof d->name, name, sfx, NULL);
        fpf__msg3(d->bn_name, sizeof d->bn_name, bn, bn ? sfx : NULL, NULL);
        d->kind = kind; d->kh = kh; d->kw = kw; d->cin = cin; d->cout = cout;
        if (L->slot) L->slot[L->n] = slot;
    }
    L->n++;
}

/* res{S}{b}_branch{2a,2b,2c,1} and bn{S}{b}_branch{...} for stage S (2..5), block letter b. */
static void fpf__emit_block(fpf__layer_list *L, fpf__tower *t, const char *sfx, int s, int b,
                            int cin, int f1, int f3) {
    static const char *br[4] = {"2a", "2b", "2c", "1"};
    int j;
    for (j = 0; j < (b == 0 ? 4 : 3); j++) {
        char name[32], bn[32];
        int k = j == 1 ? 3 : 1;
        int ci = j == 0 || j == 3 ? cin : f1, co = j >= 2 ? f3 : f1;
        name[0] = 'r'; name[1] = 'e'; name[2] = 's'; name[3] = (char)('0' + s); name[4] = (char)('a' + b);
        fpf__msg3(name + 5, sizeof name - 5, "_branch", br[j], NULL);
        bn[0] = 'b'; bn[1] = 'n';
        fpf__msg3(bn + 2, sizeof bn - 2, name + 3, NULL, NULL);
        fpf__emit(L, t ? &t->block[s - 2][b][j] : NULL, 0, k, k, ci, co, name, sfx, bn);
    }
}

static void fpf__emit_tower(fpf__layer_list *L, const fpf_config *c, fpf__tower *t, const char *sfx,
                            int cin) {
    static const char *lat[4] = {"fpn_c2p2", "fpn_c3p3", "fpn_c4p4", "fpn_c5p5"};
    static const char *smo[4] = {"fpn_p2", "fpn_p3", "fpn_p4", "fpn_p5"};
    int s, b, F = c->fpn_width;
    fpf__emit(L, t ? &t->conv1 : NULL, 0, 7, 7, cin, c->stem_width, "conv1", sfx, "bn_conv1");
    for (s = 0; s < 4; s++)
        for (b = 0; b < c->blocks[s]; b++) {
            int in = b > 0 ? c->stage_out[s] : s == 0 ? c->stem_width : c->stage_out[s - 1];
            fpf__emit_block(L, t, sfx, s + 2, b, in, c->bottleneck[s], c->stage_out[s]);
        }
    for (s = 3; s >= 0; s--) /* c5p5 first, as §12.2 lists them */
        fpf__emit(L, t ? &t->lateral[s] : NULL, 0, 1, 1, c->stage_out[s], F, lat[s], sfx, NULL);
    for (s = 0; s < 4; s++) fpf__emit(L, t ? &t->smooth[s] : NULL, 0, 3, 3, F, F, smo[s], sfx, NULL);
}

static void fpf__emit_heads(fpf__layer_list *L, const fpf_config *c, fpf__heads *h) {
    static const char *mc[4] = {"mrcnn_mask_conv1", "mrcnn_mask_conv2", "mrcnn_mask_conv3", "mrcnn_mask_conv4"};
    static const char *mb[4] = {"mrcnn_mask_bn1", "mrcnn_mask_bn2", "mrcnn_mask_bn3", "mrcnn_mask_bn4"};
    int D = fpf__depth(c), P = c->pool_size, K = c->num_classes, Mw = c->mask_width, i;
#define FPF__H(field) (h ? &h->field : NULL)
    fpf__emit(L, FPF__H(rpn_conv), 0, 3, 3, D, c->rpn_width, "rpn_conv_shared", "", NULL);
    fpf__emit(L, FPF__H(rpn_class), 0, 1, 1, c->rpn_width, 2 * FPF__A, "rpn_class_raw", "", NULL);
    fpf__emit(L, FPF__H(rpn_bbox), 0, 1, 1, c->rpn_width, 4 * FPF__A, "rpn_bbox_pred", "", NULL);
    fpf__emit(L, FPF__H(cls_conv1), 0, P, P, D, c->fc_width, "mrcnn_class_conv1", "", "mrcnn_class_bn1");
    fpf__emit(L, FPF__H(cls_conv2), 0, 1, 1, c->fc_width, c->fc_width, "mrcnn_class_conv2", "", "mrcnn_class_bn2");
    fpf__emit(L, FPF__H(cls_logits), 1, 1, 1, c->fc_width, K, "mrcnn_class_logits", "", NULL);
    fpf__emit(L, FPF__H(bbox_fc), 1, 1, 1, c->fc_width, 4 * K, "mrcnn_bbox_fc", "", NULL);
    for (i = 0; i < 4; i++)
        fpf__emit(L, FPF__H(mask_conv[i]), 0, 3, 3, i ? Mw : D, Mw, mc[i], "", mb[i]);
    fpf__emit(L, FPF__H(mask_deconv), 2, 2, 2, Mw, Mw, "mrcnn_mask_deconv", "", NULL);
    fpf__emit(L, FPF__H(mask_out), 0, 1, 1, Mw, K, "mrcnn_mask", "", NULL);
#undef FPF__H
}

static int fpf__layers(const fpf_config *c, fpf__tower *t, fpf__tower *core, fpf__heads *h,
                       fpf_layer_desc *desc, fpf__conv **slot, int max) {
    fpf__layer_list L;
    L.desc = desc; L.slot = slot; L.n = 0; L.max = desc ? max : 0;
    fpf__emit_tower(&L, c, t, "", c->input_channels);
    if (fpf__is_fpf(c)) fpf__emit_tower(&L, c, core, "_core", 1);
    fpf__emit_heads(&L, c, h);
    return L.n;
}

FPF_DEF int fpf_config_layers(const fpf_config *cfg, fpf_layer_desc *out, int max) {
    if (!cfg || fpf_config_check(cfg) != FPF_OK) return 0;
    return fpf__layers(cfg, NULL, NULL, NULL, out, NULL, out ? max : 0);
}

/* ---------------------------------------------------------------------------------------------
   Model file (format in the header comment) */

#define FPF__HDR 64
#define FPF__CFG_BYTES 256
#define FPF__ENTRY 128
#define FPF__NAME 80

struct fpf_model {
    fpf_config cfg;
    fpf_allocator alloc;
    void *owned;           /* our copy of the file, or NULL when used in place */
    const uint8_t *file;
    size_t size;
    int n_tensors;
    fpf__tower tower, core; /* core: the nucleus tower of FPF models */
    fpf__heads heads;
    size_t weight_bytes;
    float *packed;         /* packed kernels that could not be packed in place (fpf__prepare) */
    struct fpf__qconv *qc; /* [n_layers] int8 data of each layer (q NULL for fp32 layers) */
    void *qpacked;         /* the int8 layers' packed panels, channel sums and multipliers */
    float *rpn_head_mem;   /* heads.rpn_head's weights, bias and panels */
    float *wino_mem;       /* the Winograd layers' U (fpf__wino_prepare) */
    int wino_cin;          /* their largest cin (0: none) */
    int n_layers, n_int8;
};

FPF_DEF uint64_t fpf_checksum(const void *file, size_t size) {
    const uint8_t *p = (const uint8_t *)file;
    uint64_t sum = 0;
    size_t i, n = size / 8;
    for (i = 0; i < n; i++) {
        uint64_t w = (i == 3) ? 0 : fpf__rd64(p + 8 * i); /* bytes 24..31 hold the checksum */
        sum += w * (2 * (uint64_t)i + 1);
    }
    if (size % 8) {
        uint8_t tail[8] = {0};
        memcpy(tail, p + 8 * n, size % 8);
        sum += fpf__rd64(tail) * (2 * (uint64_t)n + 1);
    }
    return sum;
}

typedef struct fpf__loader {
    const uint8_t *file;
    size_t size;
    int writable;   /* the model owns the buffer: weights may be packed in place */
    char *msg;
    size_t msg_size;
} fpf__loader;

static fpf_result fpf__fail(fpf__loader *ld, fpf_result r, const char *a, const char *b, const char *c) {
    fpf__msg3(ld->msg, ld->msg_size, a, b, c);
    return r;
}

/* Finds tensor `name` in the table; checks its shape is exactly dims[0..ndim). */
static fpf_result fpf__bind(fpf__loader *ld, int n_tensors, const char *name, int ndim,
                            const int *dims, const float **data, unsigned char *used) {
    int t, i;
    for (t = 0; t < n_tensors; t++) {
        const uint8_t *e = ld->file + FPF__HDR + FPF__CFG_BYTES + (size_t)t * FPF__ENTRY;
        if (strcmp((const char *)e, name) != 0) continue;
        if (used[t]) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "duplicate tensor ", name, "");
        if (fpf__rd32(e + 80) != 0) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", name, " is not f32");
        if ((int)fpf__rd32(e + 84) != ndim) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", name, " has the wrong rank");
        for (i = 0; i < ndim; i++)
            if ((int)fpf__rd32(e + 88 + 4 * i) != dims[i])
                return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", name, " has a shape that disagrees with the config");
        used[t] = 1;
        *data = (const float *)(const void *)(ld->file + fpf__rd64(e + 104));
        return FPF_OK;
    }
    return fpf__fail(ld, FPF_ERR_BAD_MODEL, "missing tensor ", name, "");
}

/* Table sanity: names terminated, dtypes known, data inside the file, 64-aligned, sizes exact,
   after the tensor table and overlapping no other tensor (in-place packing rewrites the data). */
static fpf_result fpf__check_table(fpf__loader *ld, int n_tensors, size_t *weight_bytes) {
    uint64_t lo[4 * FPF_MAX_LAYERS], hi[4 * FPF_MAX_LAYERS];
    size_t table_end = FPF__HDR + FPF__CFG_BYTES + (size_t)n_tensors * FPF__ENTRY;
    int t, i;
    *weight_bytes = 0;
    for (t = 0; t < n_tensors; t++) {
        const uint8_t *e = ld->file + FPF__HDR + FPF__CFG_BYTES + (size_t)t * FPF__ENTRY;
        uint32_t dtype = fpf__rd32(e + 80), ndim = fpf__rd32(e + 84);
        uint64_t off = fpf__rd64(e + 104), nbytes = fpf__rd64(e + 112);
        size_t count = 1, end;
        if (memchr(e, 0, FPF__NAME) == NULL) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor name not terminated", "", "");
        if (dtype > 1 || ndim < 1 || ndim > 4) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", (const char *)e, " has a bad dtype or rank");
        for (i = 0; i < (int)ndim; i++)
            if (!fpf__mul(count, fpf__rd32(e + 88 + 4 * i), &count))
                return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", (const char *)e, " is too large");
        if (!fpf__mul(count, dtype == 0 ? 4 : 1, &count) || count != nbytes || count == 0)
            return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", (const char *)e, " has a size that disagrees with its shape");
        if (off % FPF__ALIGN || off > ld->size || !fpf__add((size_t)off, (size_t)nbytes, &end) || end > ld->size)
            return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", (const char *)e, " lies outside the file");
        if (off < table_end)
            return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", (const char *)e, " overlaps the header or tensor table");
        for (i = 0; i < t; i++) /* at most 640 tensors: 200k comparisons */
            if (off < hi[i] && lo[i] < end) {
                char both[2 * FPF__NAME + 8];
                fpf__msg3(both, sizeof both, (const char *)(e - (size_t)(t - i) * FPF__ENTRY), " and ", (const char *)e);
                return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensors ", both, " overlap");
            }
        lo[t] = off; hi[t] = end;
        *weight_bytes += (size_t)nbytes;
    }
    return FPF_OK;
}

/* The largest file this (checked) config allows: header, config, a table of up to 3 tensors per
   layer, then per layer the f32 kernel (an s8 kernel is smaller), its bias, and for an int8 layer
   its per-channel scales and its "input_q" tensor, all 64-byte aligned. An all-f32 file is exactly
   the size without the int8 terms. Bounds what a loader reads (≤ 4 GiB). */
static uint64_t fpf__max_size(const fpf_config *c) {
    fpf_layer_desc d[FPF_MAX_LAYERS];
    int n = fpf__layers(c, NULL, NULL, NULL, d, NULL, FPF_MAX_LAYERS), l;
    uint64_t total;
    if (n > FPF_MAX_LAYERS) return 0;
    total = (FPF__HDR + FPF__CFG_BYTES + (uint64_t)FPF__ENTRY * 3 * (uint64_t)n + 63) / 64 * 64;
    for (l = 0; l < n; l++) { /* each factor ≤ 4096 by fpf_config_check: no overflow */
        uint64_t nk = (uint64_t)d[l].kh * (uint64_t)d[l].kw * (uint64_t)d[l].cin * (uint64_t)d[l].cout * 4;
        uint64_t nb = ((uint64_t)d[l].cout * 4 + 63) / 64 * 64;
        total += (nk + 63) / 64 * 64 + nb + nb + 64;   /* kernel, bias, int8 scales, input_q */
    }
    return total;
}

/* What the first FPF__HDR + FPF__CFG_BYTES bytes say, for a file of `size` bytes: magic, version,
   size field, config, and that the size is within the largest the config implies. Checked before the rest
   of a file is read, so a huge or sparse file costs nothing. Checksum and table come later. */
static fpf_result fpf__check_head(fpf__loader *ld, const uint8_t *f, uint64_t size, fpf_config *cfg) {
    uint32_t words[64];
    int i;
    if (size < FPF__HDR + FPF__CFG_BYTES || memcmp(f, "FPFMODEL", 8) != 0)
        return fpf__fail(ld, FPF_ERR_MODEL_VERSION, "not an .fpf model (bad magic or too short)", "", "");
    if (fpf__rd32(f + 8) != FPF_FORMAT_VERSION)
        return fpf__fail(ld, FPF_ERR_MODEL_VERSION, "unsupported .fpf format version (this build reads version 1)", "", "");
    if (fpf__rd64(f + 16) != size)
        return fpf__fail(ld, FPF_ERR_BAD_MODEL, "file size disagrees with the header (truncated?)", "", "");
    if (size > FPF_MAX_MODEL_BYTES)
        return fpf__fail(ld, FPF_ERR_BAD_MODEL, "model file larger than FPF_MAX_MODEL_BYTES", "", "");
    for (i = 0; i < 64; i++) words[i] = fpf__rd32(f + FPF__HDR + 4 * i);
    fpf_config_from_words(cfg, words);
    if (fpf_config_check(cfg) != FPF_OK)
        return fpf__fail(ld, FPF_ERR_BAD_MODEL, "config block out of range or inconsistent (or the file is corrupt)", "", "");
    if (size > fpf__max_size(cfg))
        return fpf__fail(ld, FPF_ERR_BAD_MODEL, "file larger than the largest its config implies", "", "");
    return FPF_OK;
}

/* Every value of every bound tensor must be finite. */
static fpf_result fpf__check_finite(fpf__loader *ld, const fpf_layer_desc *d, fpf__conv *const *slot, int n) {
    int l;
    for (l = 0; l < n; l++) {
        size_t k, nw = slot[l]->q ? 0 : (size_t)slot[l]->kh * slot[l]->kw * slot[l]->cin * slot[l]->cout;
        for (k = 0; k < nw; k++)
            if (!(fabsf(slot[l]->w[k]) <= FLT_MAX)) return fpf__fail(ld, FPF_ERR_BAD_WEIGHTS, "non-finite value in ", d[l].name, "/kernel");
        for (k = 0; k < (size_t)slot[l]->cout; k++)
            if (!(fabsf(slot[l]->b[k]) <= FLT_MAX)) return fpf__fail(ld, FPF_ERR_BAD_WEIGHTS, "non-finite value in ", d[l].name, "/bias");
    }
    return FPF_OK;
}

/* Weight packing, once at load. The kernels compute 16 output channels at a time (two AVX2
   vectors, one AVX-512 vector, four NEON vectors); packing each group of 16 into its own panel
   makes the weights one sequential stream: panel p, row r = (ky·kw + kx)·cin + ci holds
   w[r][16p .. 16p+15], zero-padded past cout. */
static size_t fpf__rows(const fpf__conv *k) { return (size_t)k->kh * k->kw * k->cin; }
static size_t fpf__packed_floats(const fpf__conv *k) { return (size_t)((k->cout + 15) / 16) * fpf__rows(k) * 16; }

static void fpf__pack(const float *w, size_t rows, int cout, float *dst) {
    int p, j, np = (cout + 15) / 16;
    size_t r;
    for (p = 0; p < np; p++)
        for (r = 0; r < rows; r++)
            for (j = 0; j < 16; j++)
                dst[((size_t)p * rows + r) * 16 + j] = 16 * p + j < cout ? w[r * cout + 16 * p + j] : 0.0f;
}

/* Weight row r = (ky·kw + kx)·cin + ci, output channel co of k: from the HWIO w, or from the packed
   panels once w is gone (packed in place). */
static float fpf__weight(const fpf__conv *k, size_t r, int co) {
    return k->w ? k->w[r * k->cout + co] : k->wp[(size_t)(co / 16) * k->pstride + r * 16 + co % 16];
}

/* Packs every layer. In a buffer the model owns (load_file, load_memory) a layer whose cout is a
   multiple of 16 is packed in place, so loading costs no extra memory; the others (the heads'
   2-, 6- and 12-channel outputs), and every layer of a model used in place, go to m->packed.
   Only the kernels read weights after this; the HWIO pointer w is cleared where overwritten. */
static fpf_result fpf__prepare(fpf__loader *ld, fpf_model *m, fpf__conv *const *slot, int n, int writable) {
    size_t need = 0, tmp_n = 0, off = 0;
    float *tmp = NULL;
    int l;
    for (l = 0; l < n; l++) {
        size_t pf = fpf__packed_floats(slot[l]);
        if (slot[l]->q) continue; /* int8 layers: fpf__qprepare */
        if (pf / 16 / fpf__rows(slot[l]) > (size_t)1 << 20 || pf > ((size_t)-1) / 8)
            return fpf__fail(ld, FPF_ERR_BAD_MODEL, "layer too large", "", "");
        if (writable && slot[l]->cout % 16 == 0) tmp_n = pf > tmp_n ? pf : tmp_n;
        else if (!fpf__add(need, pf, &need)) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "layers too large", "", "");
    }
    if ((need && !(m->packed = (float *)fpf__alloc(&m->alloc, need * sizeof(float)))) ||
        (tmp_n && !(tmp = (float *)fpf__alloc(&m->alloc, tmp_n * sizeof(float)))))
        return fpf__fail(ld, FPF_ERR_OUT_OF_MEMORY, "out of memory while packing weights", "", "");
    for (l = 0; l < n; l++) {
        fpf__conv *k = slot[l];
        size_t pf = fpf__packed_floats(k);
        if (k->q) continue;
        k->pstride = fpf__rows(k) * 16;
        if (writable && k->cout % 16 == 0) {
            float *w = (float *)(uintptr_t)k->w; /* our own copy of the file */
            fpf__pack(w, fpf__rows(k), k->cout, tmp);
            memcpy(w, tmp, pf * sizeof(float));
            k->wp = w;
            k->w = NULL;
        } else {
            fpf__pack(k->w, fpf__rows(k), k->cout, m->packed + off);
            k->wp = m->packed + off;
            off += pf;
        }
    }
    fpf__free(&m->alloc, tmp);
    return FPF_OK;
}

/* The RPN's two output convs, rpn_class_raw (2·3 channels) and rpn_bbox_pred (4·3), as one 1×1
   conv of 18 channels, class first: both read the same 512-deep map, so one pass over it makes
   both (fpf__rpn_fused). Each output value keeps its own weight column and the kernels' fixed
   (ky, kx, ci) order, so its bits are those of the separate convs. Built from the packed panels
   (a layer's HWIO weights may be packed over) into mem: fpf__rpn_head_floats(cls, box) floats.
   Returns 0 (and makes nothing) unless both are fp32, packed 1×1 convs of one input depth. */
static size_t fpf__rpn_head_floats(const fpf__conv *cls, const fpf__conv *box) {
    size_t rows = fpf__rows(cls), cout = (size_t)cls->cout + box->cout;
    return rows * cout + cout + (cout + 15) / 16 * rows * 16; /* HWIO weights, bias, panels */
}

static int fpf__rpn_head_make(const fpf__conv *cls, const fpf__conv *box, float *mem, fpf__conv *head) {
    const fpf__conv *part[2];
    size_t rows = fpf__rows(cls), r;
    int cout = cls->cout + box->cout, i, j, co = 0;
    float *w = mem, *b = mem + rows * cout;
    part[0] = cls; part[1] = box;
    memset(head, 0, sizeof *head);
    for (i = 0; i < 2; i++)
        if (part[i]->q || !part[i]->wp || part[i]->kh != 1 || part[i]->kw != 1 || part[i]->cin != cls->cin) return 0;
    for (i = 0; i < 2; i++)
        for (j = 0; j < part[i]->cout; j++, co++) {
            for (r = 0; r < rows; r++) w[r * cout + co] = fpf__weight(part[i], r, j);
            b[co] = part[i]->b[j];
        }
    fpf__pack(w, rows, cout, b + cout);
    head->w = w; head->b = b; head->wp = b + cout; head->pstride = rows * 16;
    head->kh = head->kw = 1; head->cin = cls->cin; head->cout = cout; head->layer = -1;
    return 1;
}

static fpf_result fpf__rpn_head_prepare(fpf__loader *ld, fpf_model *m) {
    const fpf__heads *h = &m->heads;
    if (h->rpn_class.q || h->rpn_bbox.q || !h->rpn_class.wp || !h->rpn_bbox.wp) return FPF_OK; /* no fused head */
    if (!(m->rpn_head_mem = (float *)fpf__alloc(&m->alloc, fpf__rpn_head_floats(&h->rpn_class, &h->rpn_bbox) * sizeof(float))))
        return fpf__fail(ld, FPF_ERR_OUT_OF_MEMORY, "out of memory while packing weights", "", "");
    fpf__rpn_head_make(&h->rpn_class, &h->rpn_bbox, m->rpn_head_mem, &m->heads.rpn_head);
    return FPF_OK;
}

/* Is k run as Winograd where the call allows it: U is made only for fp32 3×3 convs (fpf__wino_prepare). */
static int fpf__wino_layer(const fpf__conv *k) { return k->wino != NULL; }
/* Winograd U (section "Winograd"): floats per position ξ of a layer's U. */
static size_t fpf__wino_stride(const fpf__conv *k) { return (size_t)((k->cout + 15) / 16) * k->cin * 16; }

/* U = G g Gᵀ in double, rounded once to float, into dst: 16 × fpf__wino_stride(k) floats, U[ξ] packed
   as a 1×1 conv (panels of 16 output channels, [cin][16], zero past cout). */
static void fpf__wino_pack(const fpf__conv *k, float *dst) {
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    size_t st = fpf__wino_stride(k);
    int ci, co, i, j, b;
    memset(dst, 0, 16 * st * sizeof(float));
    for (ci = 0; ci < k->cin; ci++)
        for (co = 0; co < k->cout; co++) {
            double t[4][3];
            for (i = 0; i < 4; i++)
                for (b = 0; b < 3; b++)
                    t[i][b] = G[i][0] * fpf__weight(k, (size_t)b * k->cin + ci, co) +
                              G[i][1] * fpf__weight(k, (size_t)(3 + b) * k->cin + ci, co) +
                              G[i][2] * fpf__weight(k, (size_t)(6 + b) * k->cin + ci, co);
            for (i = 0; i < 4; i++)
                for (j = 0; j < 4; j++)
                    dst[(size_t)(4 * i + j) * st + ((size_t)(co / 16) * k->cin + ci) * 16 + co % 16] =
                        (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
        }
}

/* The layers that run as Winograd F(2×2, 3×3) (section "Winograd"): the fp32 3×3 convs of the FPN
   (fpn_p2..p5 of both towers), the RPN's shared conv and the mask head, at least 85 % of the
   work. Their U takes 16/9 of their weights again (42 MB for the paper's cell model). The
   bottlenecks' 3×3s stay direct: small maps, and res5's U alone would be 50 MB. */
static int fpf__wino_layers(fpf_model *m, fpf__conv **k) {
    int n = 0, i;
    for (i = 0; i < 4; i++) {
        k[n++] = &m->tower.smooth[i];
        if (fpf__is_fpf(&m->cfg)) k[n++] = &m->core.smooth[i];
        k[n++] = &m->heads.mask_conv[i];
    }
    k[n++] = &m->heads.rpn_conv;
    return n;
}

static int fpf__wino_candidate(const fpf__conv *k) { return !k->q && k->wp && k->kh == 3 && k->kw == 3 && k->cin <= FPF__ZEROS; }

static fpf_result fpf__wino_prepare(fpf__loader *ld, fpf_model *m) {
    fpf__conv *k[13];
    size_t need = 0, off = 0;
    int n = fpf__wino_layers(m, k), i;
#ifdef FPF_NO_WINOGRAD
    n = 0; /* no U: every conv direct */
#endif
    for (i = 0; i < n; i++)
        if (fpf__wino_candidate(k[i]) && !fpf__add(need, 16 * fpf__wino_stride(k[i]), &need))
            return fpf__fail(ld, FPF_ERR_BAD_MODEL, "layers too large", "", "");
    if (!need) return FPF_OK;
    if (need > ((size_t)-1) / sizeof(float) || !(m->wino_mem = (float *)fpf__alloc(&m->alloc, need * sizeof(float))))
        return fpf__fail(ld, FPF_ERR_OUT_OF_MEMORY, "out of memory while packing weights", "", "");
    for (i = 0; i < n; i++) {
        if (!fpf__wino_candidate(k[i])) continue;
        fpf__wino_pack(k[i], m->wino_mem + off);
        k[i]->wino = m->wino_mem + off;
        off += 16 * fpf__wino_stride(k[i]);
        if (k[i]->cin > m->wino_cin) m->wino_cin = k[i]->cin;
    }
    return FPF_OK;
}

/* ---------------------------------------------------------------------------------------------
   int8 layers in the file (format in the header comment, "int8 quantized models"). A layer is
   int8 when its kernel tensor has dtype 1: s8 HWIO weights with f32 per-output-channel scales at
   the entry's scales offset, plus an f32 tensor "<layer>/input_q" = {s_x, z_x}. */

typedef struct fpf__qconv {
    const int8_t *w;        /* the file's s8 kernel, HWIO (the reference twin reads it) */
    const float *scale;     /* [cout] s_w: w_real = s_w · q_w */
    float in_scale;         /* s_x: x_real = s_x · (q_x − z_x) */
    int in_zero;            /* z_x, 0..255 */
    const int8_t *wp;       /* packed: panel p of 16 output channels at wp + p·pstride, rows
                               [tap][cin/4] of 64 bytes [16 channels][4 inputs]; one zero panel
                               past the last, so a 32-channel kernel may always read two */
    size_t pstride;         /* bytes per panel: kh·kw·cin·16 */
    const int32_t *wsum;    /* [panels·16] Σ of each channel's packed weights (the deconv: per tap) */
    size_t wsum_tap;        /* the deconv: int32s from one tap's sums to the next; else 0 */
    const float *mul;       /* [panels·16] s_x · s_w[co], one float product */
} fpf__qconv;

#define FPF__QMAX_DEPTH 32768 /* kh·kw·cin of an int8 layer: |Σ (q_x − z_x)·q_w| < 255·128·32768 < 2^31 */

static int fpf__dtype_of(fpf__loader *ld, int n_tensors, const char *name) {
    int t;
    for (t = 0; t < n_tensors; t++) {
        const uint8_t *e = ld->file + FPF__HDR + FPF__CFG_BYTES + (size_t)t * FPF__ENTRY;
        if (strcmp((const char *)e, name) == 0) return (int)fpf__rd32(e + 80);
    }
    return -1;
}

static fpf_result fpf__qbind(fpf__loader *ld, fpf_model *m, const fpf_layer_desc *d, int l, int n,
                             fpf__conv *k, unsigned char *used) {
    char name[96];
    int t, i, nd = d->kind == 1 ? 2 : 4, kd[4], two[1];
    const float *iq = NULL;
    fpf__qconv *q;
    fpf_result r;
    if (d->kind == 1) { kd[0] = d->cin; kd[1] = d->cout; }
    else { kd[0] = d->kh; kd[1] = d->kw; kd[2] = d->cin; kd[3] = d->cout; }
    if (!m->qc) {
        if (!(m->qc = (fpf__qconv *)fpf__alloc(&m->alloc, (size_t)n * sizeof(fpf__qconv))))
            return fpf__fail(ld, FPF_ERR_OUT_OF_MEMORY, "out of memory", "", "");
        memset(m->qc, 0, (size_t)n * sizeof(fpf__qconv));
    }
    q = &m->qc[l];
    fpf__msg3(name, sizeof name, d->name, "/kernel", NULL);
    for (t = 0; t < m->n_tensors; t++) {
        const uint8_t *e = ld->file + FPF__HDR + FPF__CFG_BYTES + (size_t)t * FPF__ENTRY;
        uint64_t so;
        if (strcmp((const char *)e, name) != 0) continue;
        if (used[t]) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "duplicate tensor ", name, "");
        if ((int)fpf__rd32(e + 84) != nd) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", name, " has the wrong rank");
        for (i = 0; i < nd; i++)
            if ((int)fpf__rd32(e + 88 + 4 * i) != kd[i])
                return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor ", name, " has a shape that disagrees with the config");
        so = fpf__rd64(e + 120);
        if (so % 4 || so < FPF__HDR + FPF__CFG_BYTES + (uint64_t)m->n_tensors * FPF__ENTRY /* not in the head or table */
            || so > ld->size || (ld->size - so) / 4 < (uint64_t)d->cout)
            return fpf__fail(ld, FPF_ERR_BAD_MODEL, "int8 tensor ", name, " has no valid scales");
        used[t] = 1;
        q->w = (const int8_t *)(const void *)(ld->file + fpf__rd64(e + 104));
        q->scale = (const float *)(const void *)(ld->file + so);
        break;
    }
    if (!q->w) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "missing tensor ", name, "");
    if (d->cin % 4 || (size_t)d->kh * d->kw * d->cin > FPF__QMAX_DEPTH)
        return fpf__fail(ld, FPF_ERR_BAD_MODEL, "int8 layer ", d->name, " needs cin a multiple of 4 and kh·kw·cin <= 32768");
    for (i = 0; i < d->cout; i++)
        if (!(q->scale[i] > 0.0f && q->scale[i] <= FLT_MAX))
            return fpf__fail(ld, FPF_ERR_BAD_WEIGHTS, "bad weight scale in ", d->name, "/kernel");
    fpf__msg3(name, sizeof name, d->name, "/input_q", NULL);
    two[0] = 2;
    if ((r = fpf__bind(ld, m->n_tensors, name, 1, two, &iq, used)) != FPF_OK) return r;
    if (!(iq[0] > 0.0f && iq[0] <= FLT_MAX) || !(iq[1] >= 0.0f && iq[1] <= 255.0f) || iq[1] != (float)(int)iq[1])
        return fpf__fail(ld, FPF_ERR_BAD_WEIGHTS, "bad input quantization (scale > 0, zero point 0..255) in ", name, "");
    q->in_scale = iq[0];
    q->in_zero = (int)iq[1];
    k->q = q;
    k->w = NULL;
    m->n_int8++;
    return FPF_OK;
}

/* Packs the int8 layers (rows of 4 inputs × 16 channels, see fpf__qconv) and computes their
   channel sums and multipliers, into one buffer m->qpacked. */
static size_t fpf__qpanels(const fpf__conv *k) { return (size_t)(k->cout + 15) / 16 + 1; }
static size_t fpf__up64(size_t n) { return (n + 63) & ~(size_t)63; }
static size_t fpf__qlayer_bytes(const fpf__conv *k) { /* panels, channel sums (up to 4 taps), multipliers */
    size_t np = fpf__qpanels(k);
    return fpf__up64(np * fpf__rows(k) * 16) + fpf__up64(np * 16 * 4 * 4) + fpf__up64(np * 16 * 4);
}

static void fpf__qpack(const int8_t *w, int taps, int cin, int cout, int8_t *dst, size_t pstride) {
    int p, j, t, g, i, np = (cout + 15) / 16 + 1;
    for (p = 0; p < np; p++)
        for (t = 0; t < taps; t++)
            for (g = 0; g < cin / 4; g++)
                for (j = 0; j < 16; j++)
                    for (i = 0; i < 4; i++) {
                        int co = 16 * p + j;
                        dst[(size_t)p * pstride + (((size_t)t * (cin / 4) + g) * 16 + j) * 4 + i] =
                            co < cout ? w[((size_t)t * cin + 4 * g + i) * cout + co] : 0;
                    }
}

/* Fills q's packed panels, sums and multipliers in mem (fpf__qlayer_bytes(k), 64-aligned) from
   q->w, q->scale, q->in_scale, q->in_zero. deconv: one set of sums per 2×2 tap (each a 1×1 conv). */
static void fpf__qinit(fpf__qconv *q, const fpf__conv *k, int deconv, void *mem) {
    char *base = (char *)mem;
    size_t np = fpf__qpanels(k), rows = fpf__rows(k), c;
    int taps = k->kh * k->kw, t, nt = deconv ? 4 : 1;
    int8_t *wp = (int8_t *)base;
    int32_t *ws = (int32_t *)(void *)(base + fpf__up64(np * rows * 16));
    float *mul = (float *)(void *)((char *)ws + fpf__up64(np * 16 * 4 * 4));
    q->pstride = rows * 16;
    fpf__qpack(q->w, taps, k->cin, k->cout, wp, q->pstride);
    memset(ws, 0, np * 16 * 4 * 4);
    for (t = 0; t < nt; t++)
        for (c = 0; c < (size_t)k->cout; c++) {
            size_t r0 = deconv ? (size_t)t * k->cin : 0, r1 = deconv ? r0 + (size_t)k->cin : rows, r;
            int32_t sum = 0;
            for (r = r0; r < r1; r++) sum += q->w[r * k->cout + c];
            ws[(size_t)t * np * 16 + c] = sum;
        }
    memset(mul, 0, np * 16 * 4);
    for (c = 0; c < (size_t)k->cout; c++) mul[c] = q->in_scale * q->scale[c];
    q->wp = wp; q->wsum = ws; q->wsum_tap = deconv ? np * 16 : 0; q->mul = mul;
}

static fpf_result fpf__qprepare(fpf__loader *ld, fpf_model *m, fpf__conv *const *slot, int n) {
    size_t need = 0, off = 0;
    int l;
    if (!m->n_int8) return FPF_OK;
    for (l = 0; l < n; l++)
        if (slot[l]->q && !fpf__add(need, fpf__qlayer_bytes(slot[l]), &need))
            return fpf__fail(ld, FPF_ERR_BAD_MODEL, "layers too large", "", "");
    if (!(m->qpacked = fpf__alloc(&m->alloc, need)))
        return fpf__fail(ld, FPF_ERR_OUT_OF_MEMORY, "out of memory while packing int8 weights", "", "");
    for (l = 0; l < n; l++) {
        if (!slot[l]->q) continue;
        fpf__qinit(&m->qc[slot[l]->layer], slot[l], slot[l] == &m->heads.mask_deconv, (char *)m->qpacked + off);
        off += fpf__qlayer_bytes(slot[l]);
    }
    return FPF_OK;
}

/* Binds every layer the config implies; rejects missing, misshapen and unknown tensors. */
static fpf_result fpf__bind_all(fpf__loader *ld, fpf_model *m, unsigned char *used) {
    fpf_layer_desc desc[FPF_MAX_LAYERS];
    fpf__conv *slot[FPF_MAX_LAYERS];
    int n = fpf__layers(&m->cfg, &m->tower, &m->core, &m->heads, desc, slot, FPF_MAX_LAYERS), l, t;
    fpf_result r;
    if (n > FPF_MAX_LAYERS) return fpf__fail(ld, FPF_ERR_BAD_MODEL, "config implies too many layers", "", "");
    for (l = 0; l < n; l++) {
        const fpf_layer_desc *d = &desc[l];
        char name[96];
        int kd[4], bd[1], nd = d->kind == 1 ? 2 : 4;
        if (d->kind == 1) { kd[0] = d->cin; kd[1] = d->cout; }
        else { kd[0] = d->kh; kd[1] = d->kw; kd[2] = d->cin; kd[3] = d->cout; }
        bd[0] = d->cout;
        fpf__msg3(name, sizeof name, d->name, "/kernel", NULL);
        slot[l]->layer = l;
        if (fpf__dtype_of(ld, m->n_tensors, name) == 1) r = fpf__qbind(ld, m, d, l, n, slot[l], used);
        else r = fpf__bind(ld, m->n_tensors, name, nd, kd, &slot[l]->w, used);
        if (r != FPF_OK) return r;
        fpf__msg3(name, sizeof name, d->name, "/bias", NULL);
        if ((r = fpf__bind(ld, m->n_tensors, name, 1, bd, &slot[l]->b, used)) != FPF_OK) return r;
        slot[l]->kh = d->kh; slot[l]->kw = d->kw; slot[l]->cin = d->cin; slot[l]->cout = d->cout;
    }
    for (t = 0; t < m->n_tensors; t++)
        if (!used[t])
            return fpf__fail(ld, FPF_ERR_BAD_MODEL, "unknown tensor ",
                             (const char *)(ld->file + FPF__HDR + FPF__CFG_BYTES + (size_t)t * FPF__ENTRY), "");
    if ((r = fpf__check_finite(ld, desc, slot, n)) != FPF_OK) return r;
    m->n_layers = n;
    if ((r = fpf__prepare(ld, m, slot, n, ld->writable)) != FPF_OK) return r;
    if ((r = fpf__qprepare(ld, m, slot, n)) != FPF_OK) return r;
    if ((r = fpf__rpn_head_prepare(ld, m)) != FPF_OK) return r;
    return fpf__wino_prepare(ld, m);
}

static fpf_result fpf__parse(fpf__loader *ld, fpf_model *m) {
    const uint8_t *f = ld->file;
    unsigned char used[4 * FPF_MAX_LAYERS];
    fpf_result r;
    if (ld->size < FPF__HDR + FPF__CFG_BYTES || memcmp(f, "FPFMODEL", 8) != 0)
        return fpf__fail(ld, FPF_ERR_MODEL_VERSION, "not an .fpf model (bad magic or too short)", "", "");
    if (fpf__rd64(f + 16) == ld->size && fpf__rd32(f + 8) == FPF_FORMAT_VERSION &&
        fpf_checksum(f, ld->size) != fpf__rd64(f + 24)) /* corruption reads as such, not as a bad config */
        return fpf__fail(ld, FPF_ERR_CHECKSUM, "checksum mismatch (corrupt file)", "", "");
    if ((r = fpf__check_head(ld, f, ld->size, &m->cfg)) != FPF_OK) return r;
    m->n_tensors = (int)fpf__rd32(f + 12);
    if (fpf__rd32(f + 12) > 4 * FPF_MAX_LAYERS ||
        FPF__HDR + FPF__CFG_BYTES + (size_t)m->n_tensors * FPF__ENTRY > ld->size)
        return fpf__fail(ld, FPF_ERR_BAD_MODEL, "tensor table lies outside the file", "", "");
    if ((r = fpf__check_table(ld, m->n_tensors, &m->weight_bytes)) != FPF_OK) return r;
    memset(used, 0, sizeof used);
    return fpf__bind_all(ld, m, used);
}

/* copy: 0 = use data in place (read only), 1 = copy it, 2 = adopt it (our own buffer, freed with
   the model, even on failure). */
static fpf_result fpf__load(const void *data, size_t size, const fpf_allocator *alloc, int copy,
                            fpf_model **out, char *msg, size_t msg_size) {
    fpf__loader ld;
    fpf_model *m;
    fpf_result r;
    fpf__msg3(msg, msg_size, "", NULL, NULL);
    if (!data || !out) return FPF_ERR_INVALID_ARG;
    *out = NULL;
    if (!copy && ((uintptr_t)data % FPF__ALIGN) != 0) {
        fpf__msg3(msg, msg_size, "in-place model data must be 64-byte aligned", NULL, NULL);
        return FPF_ERR_INVALID_ARG;
    }
    m = (fpf_model *)fpf__alloc(alloc, sizeof *m);
    if (!m) { if (copy == 2) fpf__free(alloc, (void *)(uintptr_t)data); return FPF_ERR_OUT_OF_MEMORY; }
    memset(m, 0, sizeof *m);
    if (alloc) m->alloc = *alloc;
    m->file = (const uint8_t *)data;
    if (copy == 2) m->owned = (void *)(uintptr_t)data;
    if (copy == 1) {
        if (!(m->owned = fpf__alloc(alloc, size ? size : 1))) { fpf__free(alloc, m); return FPF_ERR_OUT_OF_MEMORY; }
        memcpy(m->owned, data, size);
        m->file = (const uint8_t *)m->owned;
    }
    m->size = size;
    ld.file = m->file; ld.size = size; ld.msg = msg; ld.msg_size = msg_size; ld.writable = copy != 0;
    if ((r = fpf__parse(&ld, m)) != FPF_OK) { fpf_model_free(m); return r; }
    *out = m;
    return FPF_OK;
}

FPF_DEF fpf_result fpf_model_load_memory(const void *data, size_t size, const fpf_allocator *alloc,
                                         fpf_model **out, char *msg, size_t msg_size) {
    return fpf__load(data, size, alloc, 1, out, msg, msg_size);
}
FPF_DEF fpf_result fpf_model_load_inplace(const void *data, size_t size, const fpf_allocator *alloc,
                                          fpf_model **out, char *msg, size_t msg_size) {
    return fpf__load(data, size, alloc, 0, out, msg, msg_size);
}

#ifndef FPF_NO_STDIO
FPF_DEF fpf_result fpf_model_load_file(const char *path, const fpf_allocator *alloc,
                                       fpf_model **out, char *msg, size_t msg_size) {
    FILE *fp;
    long len;
    void *buf;
    uint8_t head[FPF__HDR + FPF__CFG_BYTES];
    size_t got;
    fpf_config cfg;
    fpf__loader ld;
    fpf_result r;
    if (!path || !out) return FPF_ERR_INVALID_ARG;
    *out = NULL;
    fp = fopen(path, "rb");
    if (!fp) { fpf__msg3(msg, msg_size, "cannot open ", path, ""); return FPF_ERR_IO; }
    /* The head first: a directory, a foreign file or a size the config does not imply is
       refused before anything big is allocated or read. */
    got = fread(head, 1, sizeof head, fp);
    if (ferror(fp)) { fclose(fp); fpf__msg3(msg, msg_size, "cannot read ", path, " (a directory?)"); return FPF_ERR_IO; }
    if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp); fpf__msg3(msg, msg_size, "cannot seek ", path, ""); return FPF_ERR_IO;
    }
    ld.file = head; ld.size = got; ld.writable = 0; ld.msg = msg; ld.msg_size = msg_size;
    if ((r = fpf__check_head(&ld, head, (uint64_t)len, &cfg)) != FPF_OK) { fclose(fp); return r; }
    if ((uint64_t)len > (uint64_t)((size_t)-1) - 64) {
        fclose(fp); fpf__msg3(msg, msg_size, "model file too large for this machine: ", path, ""); return FPF_ERR_OUT_OF_MEMORY;
    }
    buf = fpf__alloc(alloc, (size_t)len + 1);
    if (!buf) { fclose(fp); fpf__msg3(msg, msg_size, "out of memory reading ", path, ""); return FPF_ERR_OUT_OF_MEMORY; }
    if (fread(buf, 1, (size_t)len, fp) != (size_t)len) {
        fclose(fp); fpf__free(alloc, buf); fpf__msg3(msg, msg_size, "cannot read ", path, ""); return FPF_ERR_IO;
    }
    fclose(fp);
    return fpf__load(buf, (size_t)len, alloc, 2, out, msg, msg_size); /* no second copy */
}
#endif

FPF_DEF void fpf_model_free(fpf_model *m) {
    fpf_allocator a;
    if (!m) return;
    a = m->alloc;
    fpf__free(&a, m->packed);
    fpf__free(&a, m->qpacked);
    fpf__free(&a, m->rpn_head_mem);
    fpf__free(&a, m->wino_mem);
    fpf__free(&a, m->qc);
    fpf__free(&a, m->owned);
    fpf__free(&a, m);
}

FPF_DEF const fpf_config *fpf_model_config(const fpf_model *m) { return m ? &m->cfg : NULL; }
FPF_DEF size_t fpf_model_weight_bytes(const fpf_model *m) { return m ? m->weight_bytes : 0; }

FPF_DEF int fpf_model_layers(const fpf_model *m, fpf_layer_info *out, int max) {
    fpf_layer_desc desc[FPF_MAX_LAYERS];
    fpf__conv *slot[FPF_MAX_LAYERS];
    fpf_model *mm = (fpf_model *)(uintptr_t)m; /* fpf__layers only reads the slots' addresses */
    int n, l;
    if (!m) return 0;
    n = fpf__layers(&m->cfg, &mm->tower, &mm->core, &mm->heads, desc, slot, FPF_MAX_LAYERS);
    for (l = 0; l < n && l < max && out; l++) {
        const fpf__qconv *q = slot[l]->q;
        out[l].desc = desc[l];
        out[l].bits = q ? 8 : 32;
        out[l].in_scale = q ? q->in_scale : 0.0f;
        out[l].in_zero = q ? q->in_zero : 0;
        out[l].winograd = fpf__wino_layer(slot[l]);
    }
    return n;
}

FPF_DEF const float *fpf_model_tensor(const fpf_model *m, const char *name, int *ndim, int dims[4]) {
    int t, i;
    if (!m || !name) return NULL;
    for (t = 0; t < m->n_tensors; t++) {
        const uint8_t *e = m->file + FPF__HDR + FPF__CFG_BYTES + (size_t)t * FPF__ENTRY;
        if (strcmp((const char *)e, name) != 0) continue;
        if (ndim) *ndim = (int)fpf__rd32(e + 84);
        if (dims) for (i = 0; i < 4; i++) dims[i] = (int)fpf__rd32(e + 88 + 4 * i);
        return (const float *)(const void *)(m->file + fpf__rd64(e + 104));
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
   Kernels. Tensors are NHWC float32 without the batch dim: pixel (y, x) of a map starts at
   data + (y·w + x)·ld, and its channels are contiguous (ld >= channels lets a conv write into
   one half of a concatenated pyramid). Each kernel has a naive __ref twin that mirrors the math;
   tests check that both give bit-identical results. Work is split into tasks over output tiles;
   the summation order of every output value is fixed, so any thread count gives the same bits. */

typedef struct fpf__map {
    float *d;
    int h, w, c, ld;
} fpf__map;

static fpf__map fpf__mk(float *d, int h, int w, int c) {
    fpf__map m;
    m.d = d; m.h = h; m.w = w; m.c = c; m.ld = c;
    return m;
}

/* Convolution: out = epilogue(bias + Σ_{ky,kx,ci} in[y·s−pad+ky][x·s−pad+kx][ci] · w[ky][kx][ci][co]).
   Outside the input counts as zero. The epilogue is one flags word, applied in Keras order:
       v = conv + bias                              FPF__LINEAR: nothing more
       v += res[y][x]            FPF__RESIDUAL      (the bottleneck's shortcut add)
       v += res[y/2][x/2]        FPF__RESIDUAL_UP2  (the FPN's upsample-×2-nearest-and-add)
       v = max(v, 0)             FPF__RELU
       out += v, else out = v    FPF__ACCUMULATE    (the FPF-add fusion)
   So BN (folded), ReLU, the residual add, the FPN's upsample-and-add and the fusion add never
   make a pass of their own over memory. */
#define FPF__LINEAR 0        /* conv + bias only */
#define FPF__RELU 1
#define FPF__RESIDUAL 2
#define FPF__RESIDUAL_UP2 4
#define FPF__ACCUMULATE 8

typedef struct fpf__kernels fpf__kernels;
typedef struct fpf__conv_args {
    const fpf__conv *k;
    fpf__map in, out;
    int stride, pad;
    int flags;                  /* FPF__RELU | FPF__RESIDUAL(_UP2) | FPF__ACCUMULATE */
    const fpf__map *res;        /* the residual map of FPF__RESIDUAL(_UP2), else NULL */
    int y0, iy0;                /* row bands: output row y is row y + y0 of the whole output, and
                                   in (and res) start at row iy0 (0) of the whole input */
    int batch;                  /* 0/1, or that many images, in.d + i·in_bs -> out.d + i·out_bs */
    size_t in_bs, out_bs;
    const fpf__kernels *kern;   /* set by fpf__conv2d */
    int groups;                 /* output-channel groups per row tile (set by fpf__conv2d) */
    int rpt;                    /* output rows per task (set by fpf__conv2d) */
    int tile;                   /* columns per task (set by fpf__conv2d: fpf__tile_w) */
    /* int8 chains (fpf__stage): an int8 layer whose output int8 layers with one input_q read also
       writes that output as u8, quantized in its epilogue by fpf__quant with the readers' (qout_s,
       qout_z): pixel (y, x) at qout + (y·out.w + x)·cout; and the floats too only when qkeep (a
       residual needs them). Not with FPF__ACCUMULATE. Its reader takes qin (the same layout, cin
       bytes a pixel) and quantizes nothing. */
    uint8_t *qout;
    float qout_s;
    int qout_z, qkeep;
    const uint8_t *qin;
    /* flat: the mask head's batches (fpf__flat_*): the batch images' pixels form one axis, and a
       block kernel's x0 + p is pixel (i·out.h + y)·out.w + x of image i, called with y = 0. No
       residual, no bands; images are contiguous (out_bs = out.h·out.w·out.ld). */
    int flat;
} fpf__conv_args;

/* Kernel names say data type, operation, tile and instruction set, as XNNPACK's do:
       fpf__<types>_<op>_<px>x<cb>[c<k>]__<isa>
   types  f32 (float in, float weights, float out); qu8s8 (u8 activations, s8 weights with
          per-channel scales, requantized: the int8 layers, in their own table fpf__qkernels__<isa>)
   op     conv (every conv, dense layer and deconv tap runs through it); narrow (mrcnn_mask, a 1×1
          conv to K = 2 channels, with its lanes over input channels: fpf__f32_narrow__ref)
   tile   px output pixels × cb output channels held in registers; c<k>: input channels per
          dot-product step (VNNI/dot: c4)
   isa    scalar, avx2, avx512, neon; int8 also avxvnni, avx512vnni, amx, neondot
   e.g. fpf__f32_conv_8x32__avx512, fpf__qu8s8_conv_12x32c4__avx512vnni. Helpers of a kernel carry
   its prefix (fpf__f32_conv_store__avx2); each kernel's plain-loop twin ends in __ref
   (fpf__f32_conv__ref, and __ref_fused for the fused-multiply-add rows; fpf__qu8s8_conv__ref).

   A block kernel computes np <= px output pixels (x0 .. x0+np−1 of row y) × cb <= CB output
   channels from c0 (a multiple of 16), reading the packed panels k->wp. */
typedef void (*fpf__f32_conv_fn)(const fpf__conv_args *a, int y, int x0, int np, int c0, int cb);
typedef void (*fpf__f32_wino_in_fn)(const float *const *src, int cin, float *V, size_t vs);
typedef void (*fpf__f32_wino_out_fn)(const fpf__conv_args *a, const float *M, size_t ms, int cb, int y, int x,
                                     int c0, int ny, int nx);

/* The kernel table: one row per instruction set, chosen once at session set-up (cpuid on x86).
   The int8 rows will add their own entries beside f32_conv. */
struct fpf__kernels {
    fpf_isa isa;
    fpf__f32_conv_fn f32_conv;      /* px × cb */
    fpf__f32_conv_fn f32_conv_tail; /* tail_px × 16, for the last 16 channels when cb > 16 (or NULL) */
    int px, cb, tail_px;
    int fused;                      /* multiply-adds fused (fmaf) or a separate multiply and add */
    fpf__f32_wino_in_fn f32_wino_in;   /* Winograd F(2×2, 3×3) input and output transforms */
    fpf__f32_wino_out_fn f32_wino_out;
};

/* Kernel preconditions, checked by FPF_ASSERT (off by default: define FPF_ASSERT(c) as assert(c)
   to turn the checks on). */
#define FPF__CONV_PRECONDITIONS(a, np, px, c0, cb, CB)                                            \
    FPF_ASSERT((a)->k->wp && (np) >= 1 && (np) <= (px) && (c0) % 16 == 0 && (cb) >= 1 &&           \
               (cb) <= (CB) && (c0) + (cb) <= (a)->k->cout && (a)->out.ld >= (a)->out.c)

/* The residual's channel co..: pixel (y, x) of the output, or (y/2, x/2) for FPF__RESIDUAL_UP2. */
static const float *fpf__res_at(const fpf__conv_args *a, int y, int x, int co) {
    const fpf__map *r = a->res;
    int sh = (a->flags & FPF__RESIDUAL_UP2) ? 1 : 0;
    return r->d + ((size_t)((y + a->y0) >> sh) * r->w + (x >> sh)) * r->ld + co;
}

static float fpf__epilogue(const fpf__conv_args *a, float acc, int y, int x, int co, float *dst) {
    float v = acc + a->k->b[co];
    if (a->res) v = v + *fpf__res_at(a, y, x, co);
    if ((a->flags & FPF__RELU) && v < 0.0f) v = 0.0f;
    return (a->flags & FPF__ACCUMULATE) ? *dst + v : v;
}

/* The reference twin of every convolution kernel: one output value at a time, in the order
   (ky, kx, ci). fused = 1 rounds each multiply-add once (fmaf), as the FMA kernels do; fused = 0
   rounds the product and the sum separately, as the portable kernel does. */
static void fpf__f32_conv__ref_impl(const fpf__conv_args *a, int fused) {
    const fpf__conv *k = a->k;
    int y, x, co, ky, kx, ci;
    for (y = 0; y < a->out.h; y++)
        for (x = 0; x < a->out.w; x++)
            for (co = 0; co < k->cout; co++) {
                float acc = 0.0f, *dst = a->out.d + ((size_t)y * a->out.w + x) * a->out.ld + co;
                for (ky = 0; ky < k->kh; ky++)
                    for (kx = 0; kx < k->kw; kx++) {
                        int iy = (y + a->y0) * a->stride - a->pad + ky - a->iy0, ix = x * a->stride - a->pad + kx;
                        if (iy < 0 || iy >= a->in.h || ix < 0 || ix >= a->in.w) continue;
                        for (ci = 0; ci < k->cin; ci++) {
                            float xv = a->in.d[((size_t)iy * a->in.w + ix) * a->in.ld + ci];
                            float wv = k->w[(((size_t)ky * k->kw + kx) * k->cin + ci) * k->cout + co];
                            acc = fused ? fmaf(xv, wv, acc) : acc + xv * wv;
                        }
                    }
                *dst = fpf__epilogue(a, acc, y, x, co, dst);
            }
}
FPF__REF_TWIN void fpf__f32_conv__ref(const fpf__conv_args *a) { fpf__f32_conv__ref_impl(a, 0); }
FPF__REF_TWIN void fpf__f32_conv__ref_fused(const fpf__conv_args *a) { fpf__f32_conv__ref_impl(a, 1); }

/* Input rows of the np pixels of a block for tap (ky, kx). A tap outside the input reads a row
   of zeros (only padded convs have such taps, and their cin <= 4096 by fpf_config_check); a
   pixel past np repeats pixel 0 (its result is not stored; the FC's cin is larger than 4096). */
static const float fpf__zeros[FPF__ZEROS] = {0};

/* Flat batches (the mask head): the position of pixel L of the flat axis, image i, row y, column x. */
FPF__INLINE void fpf__flat_pos(const fpf__conv_args *a, int L, int *i, int *y, int *x) {
    int hw = a->out.h * a->out.w, r;
    *i = L / hw; r = L - *i * hw;
    *y = r / a->out.w; *x = r - *y * a->out.w;
}

/* fpf__tap_rows for a flat batch: consecutive pixels walk along rows and on into the next image. */
FPF__INLINE void fpf__flat_tap_rows(const fpf__conv_args *a, int x0, int np, int ky, int kx, const float **src, int px) {
    int p, i, y, x;
    fpf__flat_pos(a, x0, &i, &y, &x);
    for (p = 0; p < px; p++) {
        int iy = y * a->stride - a->pad + ky, ix = x * a->stride - a->pad + kx;
        int ok = iy >= 0 && iy < a->in.h && ix >= 0 && ix < a->in.w;
        src[p] = p >= np ? src[0] : ok ? a->in.d + (size_t)i * a->in_bs + ((size_t)iy * a->in.w + ix) * a->in.ld : fpf__zeros;
        if (++x == a->out.w) { x = 0; if (++y == a->out.h) { y = 0; i++; } }
    }
}

FPF__INLINE void fpf__tap_rows(const fpf__conv_args *a, int y, int x0, int np, int ky, int kx,
                          const float **src, int px) {
    int p, iy = (y + a->y0) * a->stride - a->pad + ky - a->iy0;
    if (a->flat) { fpf__flat_tap_rows(a, x0, np, ky, kx, src, px); return; }
    for (p = 0; p < px; p++) {
        int ix = (x0 + p) * a->stride - a->pad + kx;
        int ok = iy >= 0 && iy < a->in.h && ix >= 0 && ix < a->in.w;
        src[p] = p >= np ? src[0] : ok ? a->in.d + ((size_t)iy * a->in.w + ix) * a->in.ld : fpf__zeros;
    }
}

/* Scalar epilogue of a block held in acc[p][j] (row stride ldacc): used by the portable kernel
   and by the SIMD kernels for partial channel blocks. Same operations as the vector epilogue. */
static void fpf__block_store(const fpf__conv_args *a, const float *acc, int ldacc, int y, int x0,
                             int np, int c0, int cb) {
    int p, j;
    for (p = 0; p < np; p++)
        for (j = 0; j < cb; j++) {
            float *dst = a->out.d + ((size_t)y * a->out.w + x0 + p) * a->out.ld + c0 + j;
            *dst = fpf__epilogue(a, acc[p * ldacc + j], y, x0 + p, c0 + j, dst);
        }
}

/* The weights of tap (ky, kx) for the 16 output channels from c0 (a multiple of 16): cin rows of 16. */
static const float *fpf__panel(const fpf__conv *k, int c0, int ky, int kx) {
    return k->wp + (size_t)(c0 / 16) * k->pstride + ((size_t)ky * k->kw + kx) * k->cin * 16;
}

/* Portable kernel: 4 output pixels × 16 output channels, separate multiply and add, plain loops
   that compilers vectorize; bit-identical to fpf__f32_conv__ref. */
#define FPF__PX 4
#define FPF__CB 16
static void fpf__f32_conv_4x16__scalar(const fpf__conv_args *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->k;
    float acc[FPF__PX][FPF__CB];
    int j, ky, kx, ci;
    FPF__CONV_PRECONDITIONS(a, np, FPF__PX, c0, cb, FPF__CB);
    memset(acc, 0, sizeof acc);
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const float *src[FPF__PX];
            const float *wk = fpf__panel(k, c0, ky, kx);
            fpf__tap_rows(a, y, x0, np, ky, kx, src, FPF__PX);
            for (ci = 0; ci < k->cin; ci++) {
                const float *wr = wk + (size_t)ci * 16;
                float a0 = src[0][ci], a1 = src[1][ci], a2 = src[2][ci], a3 = src[3][ci];
                if (cb == FPF__CB) { /* constant trip count: vectorized */
                    for (j = 0; j < FPF__CB; j++) {
                        acc[0][j] += a0 * wr[j]; acc[1][j] += a1 * wr[j];
                        acc[2][j] += a2 * wr[j]; acc[3][j] += a3 * wr[j];
                    }
                } else {
                    for (j = 0; j < cb; j++) {
                        acc[0][j] += a0 * wr[j]; acc[1][j] += a1 * wr[j];
                        acc[2][j] += a2 * wr[j]; acc[3][j] += a3 * wr[j];
                    }
                }
            }
        }
    fpf__block_store(a, &acc[0][0], FPF__CB, y, x0, np, c0, cb);
}

/* SIMD kernels: 6 (AVX-512: 8) output pixels × NV vectors of output channels held in registers; for each tap
   and input channel, NV weight vectors are loaded once and each pixel's input value is
   broadcast and fused-multiply-added into its accumulators. Every lane sums in the order of
   fpf__f32_conv__ref_fused, so the result is bit-identical to it whatever the blocking. They read
   the packed panels (zero-padded past cout, so a vector never reads outside them); only the cb
   valid channels are stored. */
#define FPF__SIMD_PX 6
#define FPF__SIMD_PX512 8 /* 8 × 2 zmm accumulators of 32 */
#define FPF__UNROLL _Pragma("GCC unroll 16") /* keeps the accumulators in registers */
/* The x86 kernels take the input channels 4 at a time (a tail loop does the rest): the pointer
   increments and the loop branch then cost a quarter as many uops. On a Sapphire-Rapids-class
   Xeon those uops compete with the FMAs for ports 0 and 5; one channel per iteration left the
   AVX-512 3×3 conv at ~62 % of the FMA peak on one thread, four at ~75 % (bench/conv_bench.c).
   The order of the multiply-adds, and so every bit, is unchanged. */
#define FPF__CI_UNROLL 4

#if defined(FPF__X86)
#define FPF__AVX2 __attribute__((target("avx2,fma")))
#define FPF__AVX512 __attribute__((target("avx512f,avx2,fma")))

/* relu as max(0, v) with 0 first: -0.0 and NaN pass through unchanged, as in the scalar v < 0 test */
FPF__AVX2 static void fpf__f32_conv_store__avx2(const fpf__conv_args *a, __m256 v, int y, int x, int co) {
    float *dst = a->out.d + ((size_t)y * a->out.w + x) * a->out.ld + co;
    v = _mm256_add_ps(v, _mm256_loadu_ps(a->k->b + co));
    if (a->res) v = _mm256_add_ps(v, _mm256_loadu_ps(fpf__res_at(a, y, x, co)));
    if (a->flags & FPF__RELU) v = _mm256_max_ps(_mm256_setzero_ps(), v);
    if (a->flags & FPF__ACCUMULATE) v = _mm256_add_ps(_mm256_loadu_ps(dst), v);
    _mm256_storeu_ps(dst, v);
}

#define FPF__F32_CONV_STEP__AVX2(u)                                                             \
    do {                                                                                         \
        __m256 w0 = _mm256_loadu_ps(w + 16 * (u)), w1 = _mm256_loadu_ps(w + 16 * (u) + 8);       \
        FPF__UNROLL for (p = 0; p < FPF__SIMD_PX; p++) {                                         \
            __m256 x = _mm256_broadcast_ss(src[p] + ci + (u));                                   \
            acc[p][0] = _mm256_fmadd_ps(x, w0, acc[p][0]);                                       \
            acc[p][1] = _mm256_fmadd_ps(x, w1, acc[p][1]);                                       \
        }                                                                                        \
    } while (0)

FPF__AVX2 static void fpf__f32_conv_6x16__avx2(const fpf__conv_args *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->k;
    __m256 acc[FPF__SIMD_PX][2];
    float t[FPF__SIMD_PX][16];
    int p, u, ky, kx, ci;
    FPF__CONV_PRECONDITIONS(a, np, FPF__SIMD_PX, c0, cb, 16);
    FPF__UNROLL for (p = 0; p < FPF__SIMD_PX; p++) acc[p][0] = acc[p][1] = _mm256_setzero_ps();
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const float *src[FPF__SIMD_PX];
            const float *w = fpf__panel(k, c0, ky, kx);
            fpf__tap_rows(a, y, x0, np, ky, kx, src, FPF__SIMD_PX);
            for (ci = 0; ci + FPF__CI_UNROLL <= k->cin; ci += FPF__CI_UNROLL, w += 16 * FPF__CI_UNROLL)
                FPF__UNROLL for (u = 0; u < FPF__CI_UNROLL; u++) FPF__F32_CONV_STEP__AVX2(u);
            for (; ci < k->cin; ci++, w += 16) FPF__F32_CONV_STEP__AVX2(0);
        }
    FPF__UNROLL for (p = 0; p < FPF__SIMD_PX; p++) { /* constant indices only: acc stays in registers */
        _mm256_storeu_ps(t[p], acc[p][0]);
        _mm256_storeu_ps(t[p] + 8, acc[p][1]);
    }
    if (cb < 16) { fpf__block_store(a, &t[0][0], 16, y, x0, np, c0, cb); return; }
    for (p = 0; p < np; p++) {
        fpf__f32_conv_store__avx2(a, _mm256_loadu_ps(t[p]), y, x0 + p, c0);
        fpf__f32_conv_store__avx2(a, _mm256_loadu_ps(t[p] + 8), y, x0 + p, c0 + 8);
    }
}

FPF__AVX512 static void fpf__f32_conv_store__avx512(const fpf__conv_args *a, __m512 v, int y, int x, int co) {
    float *dst = a->out.d + ((size_t)y * a->out.w + x) * a->out.ld + co;
    v = _mm512_add_ps(v, _mm512_loadu_ps(a->k->b + co));
    if (a->res) v = _mm512_add_ps(v, _mm512_loadu_ps(fpf__res_at(a, y, x, co)));
    if (a->flags & FPF__RELU) v = _mm512_max_ps(_mm512_setzero_ps(), v);
    if (a->flags & FPF__ACCUMULATE) v = _mm512_add_ps(_mm512_loadu_ps(dst), v);
    _mm512_storeu_ps(dst, v);
}

/* One input channel ci + u of a tap: two weight vectors, each pixel's value broadcast into both. */
#define FPF__F32_CONV_STEP__AVX512(u)                                                           \
    do {                                                                                         \
        __m512 w0 = _mm512_loadu_ps(w + 16 * (u)), w1 = _mm512_loadu_ps(v + 16 * (u));          \
        FPF__UNROLL for (p = 0; p < FPF__SIMD_PX512; p++) {                                      \
            __m512 x = _mm512_set1_ps(src[p][ci + (u)]);                                         \
            acc[p][0] = _mm512_fmadd_ps(x, w0, acc[p][0]);                                       \
            acc[p][1] = _mm512_fmadd_ps(x, w1, acc[p][1]);                                       \
        }                                                                                        \
    } while (0)

FPF__AVX512 static void fpf__f32_conv_8x32__avx512(const fpf__conv_args *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->k;
    __m512 acc[FPF__SIMD_PX512][2];
    float t[FPF__SIMD_PX512][32];
    int p, u, ky, kx, ci;
    FPF__CONV_PRECONDITIONS(a, np, FPF__SIMD_PX512, c0, cb, 32);
    FPF__UNROLL for (p = 0; p < FPF__SIMD_PX512; p++) acc[p][0] = acc[p][1] = _mm512_setzero_ps();
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const float *src[FPF__SIMD_PX512];
            const float *w = fpf__panel(k, c0, ky, kx);  /* channels c0 .. c0+15 */
            const float *v = w + k->pstride;              /* the next panel: c0+16 .. c0+31 */
            fpf__tap_rows(a, y, x0, np, ky, kx, src, FPF__SIMD_PX512);
            for (ci = 0; ci + FPF__CI_UNROLL <= k->cin; ci += FPF__CI_UNROLL, w += 16 * FPF__CI_UNROLL, v += 16 * FPF__CI_UNROLL)
                FPF__UNROLL for (u = 0; u < FPF__CI_UNROLL; u++) FPF__F32_CONV_STEP__AVX512(u);
            for (; ci < k->cin; ci++, w += 16, v += 16) FPF__F32_CONV_STEP__AVX512(0);
        }
    FPF__UNROLL for (p = 0; p < FPF__SIMD_PX512; p++) {
        _mm512_storeu_ps(t[p], acc[p][0]);
        _mm512_storeu_ps(t[p] + 16, acc[p][1]);
    }
    if (cb < 32) { fpf__block_store(a, &t[0][0], 32, y, x0, np, c0, cb); return; }
    for (p = 0; p < np; p++) {
        fpf__f32_conv_store__avx512(a, _mm512_loadu_ps(t[p]), y, x0 + p, c0);
        fpf__f32_conv_store__avx512(a, _mm512_loadu_ps(t[p] + 16), y, x0 + p, c0 + 16);
    }
}
#endif /* FPF__X86 */

#if defined(FPF__NEON)
static void fpf__f32_conv_store__neon(const fpf__conv_args *a, float32x4_t v, int y, int x, int co) {
    float *dst = a->out.d + ((size_t)y * a->out.w + x) * a->out.ld + co;
    v = vaddq_f32(v, vld1q_f32(a->k->b + co));
    if (a->res) v = vaddq_f32(v, vld1q_f32(fpf__res_at(a, y, x, co)));
    if (a->flags & FPF__RELU) v = vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.0f)), vdupq_n_f32(0.0f), v); /* v < 0 ? 0 : v */
    if (a->flags & FPF__ACCUMULATE) v = vaddq_f32(vld1q_f32(dst), v);
    vst1q_f32(dst, v);
}

static void fpf__f32_conv_6x16__neon(const fpf__conv_args *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->k;
    float32x4_t acc[FPF__SIMD_PX][4];
    float t[FPF__SIMD_PX][16];
    int p, j, ky, kx, ci;
    FPF__CONV_PRECONDITIONS(a, np, FPF__SIMD_PX, c0, cb, 16);
    FPF__UNROLL for (p = 0; p < FPF__SIMD_PX; p++)
        FPF__UNROLL for (j = 0; j < 4; j++) acc[p][j] = vdupq_n_f32(0.0f);
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const float *src[FPF__SIMD_PX];
            const float *w = fpf__panel(k, c0, ky, kx);
            fpf__tap_rows(a, y, x0, np, ky, kx, src, FPF__SIMD_PX);
            for (ci = 0; ci < k->cin; ci++, w += 16) {
                float32x4_t w0 = vld1q_f32(w), w1 = vld1q_f32(w + 4), w2 = vld1q_f32(w + 8), w3 = vld1q_f32(w + 12);
                FPF__UNROLL for (p = 0; p < FPF__SIMD_PX; p++) {
                    float32x4_t x = vdupq_n_f32(src[p][ci]);
                    acc[p][0] = vfmaq_f32(acc[p][0], x, w0);
                    acc[p][1] = vfmaq_f32(acc[p][1], x, w1);
                    acc[p][2] = vfmaq_f32(acc[p][2], x, w2);
                    acc[p][3] = vfmaq_f32(acc[p][3], x, w3);
                }
            }
        }
    FPF__UNROLL for (p = 0; p < FPF__SIMD_PX; p++)
        FPF__UNROLL for (j = 0; j < 4; j++) vst1q_f32(t[p] + 4 * j, acc[p][j]);
    if (cb < 16) { fpf__block_store(a, &t[0][0], 16, y, x0, np, c0, cb); return; }
    for (p = 0; p < np; p++)
        for (j = 0; j < 4; j++) fpf__f32_conv_store__neon(a, vld1q_f32(t[p] + 4 * j), y, x0 + p, c0 + 4 * j);
}
#endif /* FPF__NEON */

/* Winograd F(2×2, 3×3) transforms, one function per kernel row (the method: section "Winograd"
   after fpf__conv_band). Only float adds and subtracts, in one fixed order that every row keeps,
   so every row gives the bits of the scalar one.
   wino_in:  V[ξ·vs + ci] = (Bᵀ d B)[ξ], ξ = 4i + j, for ci < cin; d is the 4×4 patch whose 16
             pixels (row-major) start at src[0..15] (fpf__zeros outside the input).
   wino_out: Y = Aᵀ m A for the cb channels from c0 of one tile: m[ξ] at M + ξ·ms + j; its ny × nx
             valid outputs from pixel (y, x) of a's output get a's epilogue (bias, residual, ReLU,
             accumulate), as every conv kernel stores. */
#define FPF__WINO_BT(d, t, j, ADD, SUB)                                                          \
    do { /* Bᵀ d, column j */                                                                   \
        t[j] = SUB(d[j], d[8 + j]); t[4 + j] = ADD(d[4 + j], d[8 + j]);                          \
        t[8 + j] = SUB(d[8 + j], d[4 + j]); t[12 + j] = SUB(d[4 + j], d[12 + j]);                 \
    } while (0)
#define FPF__WINO_B(t, V, i, ADD, SUB)                                                           \
    do { /* (Bᵀ d) B, row i */                                                                  \
        V[4 * i] = SUB(t[4 * i], t[4 * i + 2]); V[4 * i + 1] = ADD(t[4 * i + 1], t[4 * i + 2]);   \
        V[4 * i + 2] = SUB(t[4 * i + 2], t[4 * i + 1]); V[4 * i + 3] = SUB(t[4 * i + 1], t[4 * i + 3]); \
    } while (0)
#define FPF__WINO_A(m, o, ADD, SUB)                                                              \
    do { /* Aᵀ m A: z = Aᵀ m (2 × 4), then o = z A (2 × 2, row-major) */                        \
        int j_;                                                                                  \
        for (j_ = 0; j_ < 4; j_++) {                                                             \
            z[j_] = ADD(ADD(m[j_], m[4 + j_]), m[8 + j_]);                                       \
            z[4 + j_] = SUB(SUB(m[4 + j_], m[8 + j_]), m[12 + j_]);                              \
        }                                                                                        \
        o[0] = ADD(ADD(z[0], z[1]), z[2]); o[1] = SUB(SUB(z[1], z[2]), z[3]);                    \
        o[2] = ADD(ADD(z[4], z[5]), z[6]); o[3] = SUB(SUB(z[5], z[6]), z[7]);                    \
    } while (0)
#define FPF__S_ADD(a, b) ((a) + (b))
#define FPF__S_SUB(a, b) ((a) - (b))

/* The scalar row, and the channel tails of the SIMD rows. */
static void fpf__f32_wino_in_range(const float *const *src, int c, int cin, float *V, size_t vs) {
    int i, j;
    for (; c < cin; c++) {
        float d[16], t[16], v[16];
        for (j = 0; j < 16; j++) d[j] = src[j][c];
        for (j = 0; j < 4; j++) FPF__WINO_BT(d, t, j, FPF__S_ADD, FPF__S_SUB);
        for (i = 0; i < 4; i++) FPF__WINO_B(t, v, i, FPF__S_ADD, FPF__S_SUB);
        for (j = 0; j < 16; j++) V[(size_t)j * vs + c] = v[j];
    }
}
static void fpf__f32_wino_in__scalar(const float *const *src, int cin, float *V, size_t vs) {
    fpf__f32_wino_in_range(src, 0, cin, V, vs);
}

static void fpf__f32_wino_out_range(const fpf__conv_args *a, const float *M, size_t ms, int j0, int cb, int y,
                                    int x, int c0, int ny, int nx) {
    int j, k, dy, dx;
    for (j = j0; j < cb; j++) {
        float m[16], z[8], o[4];
        for (k = 0; k < 16; k++) m[k] = M[(size_t)k * ms + j];
        FPF__WINO_A(m, o, FPF__S_ADD, FPF__S_SUB);
        for (dy = 0; dy < ny; dy++)
            for (dx = 0; dx < nx; dx++) {
                float *dst = a->out.d + ((size_t)(y + dy) * a->out.w + x + dx) * a->out.ld + c0 + j;
                *dst = fpf__epilogue(a, o[2 * dy + dx], y + dy, x + dx, c0 + j, dst);
            }
    }
}
static void fpf__f32_wino_out__scalar(const fpf__conv_args *a, const float *M, size_t ms, int cb, int y, int x,
                                      int c0, int ny, int nx) {
    fpf__f32_wino_out_range(a, M, ms, 0, cb, y, x, c0, ny, nx);
}

/* The SIMD rows: the same macros on vectors of VL channels, a scalar tail for the rest. */
#define FPF__WINO_IN_SIMD(VT, VL, LOAD, STORE, ADD, SUB)                                         \
    do {                                                                                         \
        int c = 0, i, j;                                                                         \
        for (; c + (VL) <= cin; c += (VL)) {                                                     \
            VT d[16], t[16], v[16];                                                              \
            for (j = 0; j < 16; j++) d[j] = LOAD(src[j] + c);                                    \
            for (j = 0; j < 4; j++) FPF__WINO_BT(d, t, j, ADD, SUB);                             \
            for (i = 0; i < 4; i++) FPF__WINO_B(t, v, i, ADD, SUB);                              \
            for (j = 0; j < 16; j++) STORE(V + (size_t)j * vs + c, v[j]);                        \
        }                                                                                        \
        fpf__f32_wino_in_range(src, c, cin, V, vs);                                              \
    } while (0)
#define FPF__WINO_OUT_SIMD(VT, VL, LOAD, ADD, SUB, STOREFN)                                      \
    do {                                                                                         \
        int j = 0, k, dy, dx;                                                                    \
        for (; j + (VL) <= cb; j += (VL)) {                                                      \
            VT m[16], z[8], o[4];                                                                \
            for (k = 0; k < 16; k++) m[k] = LOAD(M + (size_t)k * ms + j);                        \
            FPF__WINO_A(m, o, ADD, SUB);                                                         \
            for (dy = 0; dy < ny; dy++)                                                          \
                for (dx = 0; dx < nx; dx++) STOREFN(a, o[2 * dy + dx], y + dy, x + dx, c0 + j);  \
        }                                                                                        \
        fpf__f32_wino_out_range(a, M, ms, j, cb, y, x, c0, ny, nx);                              \
    } while (0)

#if defined(FPF__X86)
FPF__AVX2 static void fpf__f32_wino_in__avx2(const float *const *src, int cin, float *V, size_t vs) {
    FPF__WINO_IN_SIMD(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_sub_ps);
}
FPF__AVX2 static void fpf__f32_wino_out__avx2(const fpf__conv_args *a, const float *M, size_t ms, int cb, int y, int x,
                                              int c0, int ny, int nx) {
    FPF__WINO_OUT_SIMD(__m256, 8, _mm256_loadu_ps, _mm256_add_ps, _mm256_sub_ps, fpf__f32_conv_store__avx2);
}
FPF__AVX512 static void fpf__f32_wino_in__avx512(const float *const *src, int cin, float *V, size_t vs) {
    FPF__WINO_IN_SIMD(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps, _mm512_sub_ps);
}
FPF__AVX512 static void fpf__f32_wino_out__avx512(const fpf__conv_args *a, const float *M, size_t ms, int cb, int y,
                                                  int x, int c0, int ny, int nx) {
    FPF__WINO_OUT_SIMD(__m512, 16, _mm512_loadu_ps, _mm512_add_ps, _mm512_sub_ps, fpf__f32_conv_store__avx512);
}
#endif /* FPF__X86 */
#if defined(FPF__NEON)
static void fpf__f32_wino_in__neon(const float *const *src, int cin, float *V, size_t vs) {
    FPF__WINO_IN_SIMD(float32x4_t, 4, vld1q_f32, vst1q_f32, vaddq_f32, vsubq_f32);
}
static void fpf__f32_wino_out__neon(const fpf__conv_args *a, const float *M, size_t ms, int cb, int y, int x,
                                    int c0, int ny, int nx) {
    FPF__WINO_OUT_SIMD(float32x4_t, 4, vld1q_f32, vaddq_f32, vsubq_f32, fpf__f32_conv_store__neon);
}
#endif /* FPF__NEON */

/* The kernel rows. Designated initializers in C; C++ before C++20 has none, so FPF__F() drops the
   names there and the fields must stay in the struct's order. */
#ifdef __cplusplus
#define FPF__F(field)
#else
#define FPF__F(field) .field =
#endif
static const fpf__kernels fpf__kernels__scalar = {
    FPF__F(isa) FPF_ISA_SCALAR,
    FPF__F(f32_conv) fpf__f32_conv_4x16__scalar, FPF__F(f32_conv_tail) NULL,
    FPF__F(px) FPF__PX, FPF__F(cb) FPF__CB, FPF__F(tail_px) 0, FPF__F(fused) 0,
    FPF__F(f32_wino_in) fpf__f32_wino_in__scalar, FPF__F(f32_wino_out) fpf__f32_wino_out__scalar};
#if defined(FPF__X86)
static const fpf__kernels fpf__kernels__avx2 = {
    FPF__F(isa) FPF_ISA_AVX2,
    FPF__F(f32_conv) fpf__f32_conv_6x16__avx2, FPF__F(f32_conv_tail) NULL,
    FPF__F(px) FPF__SIMD_PX, FPF__F(cb) 16, FPF__F(tail_px) 0, FPF__F(fused) 1,
    FPF__F(f32_wino_in) fpf__f32_wino_in__avx2, FPF__F(f32_wino_out) fpf__f32_wino_out__avx2};
static const fpf__kernels fpf__kernels__avx512 = {
    FPF__F(isa) FPF_ISA_AVX512,
    FPF__F(f32_conv) fpf__f32_conv_8x32__avx512, FPF__F(f32_conv_tail) fpf__f32_conv_6x16__avx2,
    FPF__F(px) FPF__SIMD_PX512, FPF__F(cb) 32, FPF__F(tail_px) FPF__SIMD_PX, FPF__F(fused) 1,
    FPF__F(f32_wino_in) fpf__f32_wino_in__avx512, FPF__F(f32_wino_out) fpf__f32_wino_out__avx512};
#endif
#if defined(FPF__NEON)
static const fpf__kernels fpf__kernels__neon = {
    FPF__F(isa) FPF_ISA_NEON,
    FPF__F(f32_conv) fpf__f32_conv_6x16__neon, FPF__F(f32_conv_tail) NULL,
    FPF__F(px) FPF__SIMD_PX, FPF__F(cb) 16, FPF__F(tail_px) 0, FPF__F(fused) 1,
    FPF__F(f32_wino_in) fpf__f32_wino_in__neon, FPF__F(f32_wino_out) fpf__f32_wino_out__neon};
#endif

FPF_DEF int fpf_isa_supported(fpf_isa isa) {
    switch (isa) {
    case FPF_ISA_SCALAR: return 1;
#if defined(FPF__X86)
    case FPF_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FPF_ISA_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
                                __builtin_cpu_supports("fma");
#endif
#if defined(FPF__NEON)
    case FPF_ISA_NEON: return 1;
#endif
    default: return 0;
    }
}

FPF_DEF const char *fpf_isa_name(fpf_isa isa) {
    static const char *names[] = {"auto", "scalar", "avx2", "avx512", "neon"};
    return (int)isa >= 0 && (int)isa <= 4 ? names[isa] : "unknown";
}

/* The kernel row for isa (AUTO: the best this CPU runs), or NULL when it cannot run here. */
static const fpf__kernels *fpf__kernels_for(fpf_isa isa) {
    if (isa == FPF_ISA_AUTO) {
        if (fpf_isa_supported(FPF_ISA_AVX512)) isa = FPF_ISA_AVX512;
        else if (fpf_isa_supported(FPF_ISA_AVX2)) isa = FPF_ISA_AVX2;
        else if (fpf_isa_supported(FPF_ISA_NEON)) isa = FPF_ISA_NEON;
        else isa = FPF_ISA_SCALAR;
    }
    if (!fpf_isa_supported(isa)) return NULL;
    switch (isa) {
#if defined(FPF__X86)
    case FPF_ISA_AVX2: return &fpf__kernels__avx2;
    case FPF_ISA_AVX512: return &fpf__kernels__avx512;
#endif
#if defined(FPF__NEON)
    case FPF_ISA_NEON: return &fpf__kernels__neon;
#endif
    default: return &fpf__kernels__scalar;
    }
}

typedef struct fpf__runner {
    fpf_parallel_for_fn parallel_for;
    void *pool;
    const fpf__kernels *kern;
    const struct fpf__qkernels *qkern; /* int8 kernel row (NULL: the scalar one) */
    uint8_t *qbuf;                     /* int8 layers: their quantized input rows (qcap bytes), */
    size_t qcap;                       /* after FPF__ZEROS bytes for the padding row */
    fpf_conv_input_fn observe;         /* calibration: every conv's input rows */
    void *observe_user;
    float *wbuf;                       /* Winograd: wave slots (0: FPF__WINO_WAVE) for layers of cin <= */
    int wino_cin, wave;                /* wino_cin (wbuf NULL: every conv direct) */
} fpf__runner;

static void fpf__parallel(const fpf__runner *r, fpf_task_fn fn, void *ctx, int n) {
    int i;
    if (n <= 0) return;
    if (r && r->parallel_for && n > 1) { r->parallel_for(r->pool, fn, ctx, n); return; }
    for (i = 0; i < n; i++) fn(ctx, i);
}

/* Work is split into tasks of (output rows, column tile, output-channel group). A task is one
   row, except on narrow maps (the mask head's 14×14 RoIs), where it takes a chunk of rows so that
   a channel block's weights, loaded once into cache, serve ~100 pixels. Maps with few tasks (the
   box head's FC, C5) are also split over channel groups so that every thread gets work. The order
   of tasks changes nothing in any output value. A tile is 64 pixels, or for a layer with more
   than 1 MiB of weights (the FPN and RPN 3×3s, res4 3×3, most of res5, the box head FCs) a whole row
   of every map up to P2's 320 pixels: a task walks each channel block over its tile, so such a
   layer's 288 KB block of weights (3×3, 256 deep, 32 channels), fetched from L3 once per task
   because the whole layer does not fit a core's L2, serves 40 blocks of 8 pixels on P2 and 10 on
   P4, not 8 and 2 (those convs ran ~7 % faster on the Xeon, bench/conv_bench.c). Smaller layers
   keep 64-pixel tiles: their weights stay in L2 anyway, and the banded blocks of res2/res3 (8 rows)
   then still have 32 tasks without splitting channels (which would read their input rows again). */
#define FPF__TILE_W 64
#define FPF__TILE_W_DEEP 320
static int fpf__tile_w(const fpf__conv *k) {
    return fpf__packed_floats(k) > ((size_t)1 << 18) ? FPF__TILE_W_DEEP : FPF__TILE_W; /* 2^18 floats: 1 MiB */
}
#define FPF__TASK_PX 128 /* narrow maps: about this many output pixels per task */

/* Output rows [y0, y1) × columns [xs, xe) × channel blocks [b0, b1) of one conv, block by block. */
static void fpf__conv_tile(const fpf__conv_args *a, int y0, int y1, int xs, int xe, int b0, int b1) {
    const fpf__kernels *K = a->kern;
    int y, x, blk;
    for (blk = b0; blk < b1; blk++) {
        int c0 = blk * K->cb, cb = a->k->cout - c0 < K->cb ? a->k->cout - c0 : K->cb;
        int tail = K->f32_conv_tail && a->k->cout - c0 <= 16; /* only one panel remains */
        int px = tail ? K->tail_px : K->px;
        for (y = y0; y < y1; y++)
            for (x = xs; x < xe; x += px) {
                int np = xe - x < px ? xe - x : px;
                (tail ? K->f32_conv_tail : K->f32_conv)(a, y, x, np, c0, cb);
            }
    }
}

static void fpf__conv_task(void *ctx, int task) {
    const fpf__conv_args *a = (const fpf__conv_args *)ctx;
    const fpf__kernels *K = a->kern;
    int tiles = (a->out.w + a->tile - 1) / a->tile, nblk = (a->k->cout + K->cb - 1) / K->cb;
    int chunks = (a->out.h + a->rpt - 1) / a->rpt;
    int g = task % a->groups, rest = task / a->groups, y0, y1, xs, xe;
    fpf__conv_args one;
    if (a->batch > 1) { /* image rest / (chunks·tiles) of the batch */
        int img = rest / (chunks * tiles);
        one = *a;
        one.in.d += (size_t)img * a->in_bs; one.out.d += (size_t)img * a->out_bs;
        rest %= chunks * tiles;
        a = &one;
    }
    y0 = rest / tiles * a->rpt; y1 = y0 + a->rpt < a->out.h ? y0 + a->rpt : a->out.h;
    xs = (rest % tiles) * a->tile; xe = xs + a->tile < a->out.w ? xs + a->tile : a->out.w;
    fpf__conv_tile(a, y0, y1, xs, xe, g * nblk / a->groups, (g + 1) * nblk / a->groups);
}

/* Output rows per task of a row-split conv: one row per task, or, on maps narrower than
   FPF__TASK_PX / 4, about FPF__TASK_PX pixels per task. */
static int fpf__rows_per_task(int h, int w) {
    int chunks = w < FPF__TASK_PX / 4 ? (h * w + FPF__TASK_PX - 1) / FPF__TASK_PX : h;
    chunks = chunks < 1 ? 1 : chunks > h ? h : chunks;
    return (h + chunks - 1) / chunks;
}

/* Flat batches (the mask head's 14×14 maps, flags flat): the batch's pixels are one axis, cut
   into blocks of the kernel's px that run on across rows and images, so a 14-pixel row no longer
   leaves 2 of 16 pixel slots empty. A task is about FPF__FLAT_PX pixels (whole blocks) × a group
   of output-channel blocks; every output value is still one kernel call's fixed-order sum. */
#define FPF__FLAT_PX 192
static int fpf__flat_split(fpf__conv_args *a, int px, int nblk) { /* sets rpt (pixels per task) and groups */
    int n = (a->batch > 1 ? a->batch : 1) * a->out.h * a->out.w, chunks = (n + FPF__FLAT_PX - 1) / FPF__FLAT_PX;
    a->rpt = ((n + chunks - 1) / chunks + px - 1) / px * px;
    chunks = (n + a->rpt - 1) / a->rpt;
    for (a->groups = 1; a->groups < nblk && (chunks * a->groups < 32 || nblk % a->groups); a->groups++) {}
    return chunks * a->groups; /* >= 32 tasks where it can, every group the same number of blocks */
}

/* A flat task's share: flat pixels [l0, l1) and channel blocks [b0, b1) of cb channels each (both precisions). */
static void fpf__flat_range(const fpf__conv_args *a, int cb, int task, int *l0, int *l1, int *b0, int *b1) {
    int n = (a->batch > 1 ? a->batch : 1) * a->out.h * a->out.w, nblk = (a->k->cout + cb - 1) / cb;
    int g = task % a->groups;
    *l0 = task / a->groups * a->rpt;
    *l1 = *l0 + a->rpt < n ? *l0 + a->rpt : n;
    *b0 = g * nblk / a->groups;
    *b1 = (g + 1) * nblk / a->groups;
}

static void fpf__flat_task(void *ctx, int task) {
    const fpf__conv_args *a = (const fpf__conv_args *)ctx;
    const fpf__kernels *K = a->kern;
    int l0, l1, b0, b1, L, blk;
    fpf__flat_range(a, K->cb, task, &l0, &l1, &b0, &b1);
    for (blk = b0; blk < b1; blk++) {
        int c0 = blk * K->cb, cb = a->k->cout - c0 < K->cb ? a->k->cout - c0 : K->cb;
        int tail = K->f32_conv_tail && a->k->cout - c0 <= 16, px = tail ? K->tail_px : K->px;
        for (L = l0; L < l1; L += px) (tail ? K->f32_conv_tail : K->f32_conv)(a, 0, L, l1 - L < px ? l1 - L : px, c0, cb);
    }
}

static void fpf__qconv2d(const fpf__runner *r, const fpf__conv_args *a0);
static void fpf__observe(const fpf__runner *r, const fpf__conv_args *a);
static int fpf__wino_conv2d(const fpf__runner *r, const fpf__conv_args *a);

static void fpf__conv2d(const fpf__runner *r, const fpf__conv_args *a0) {
    fpf__conv_args a = *a0;
    int tiles, units, nblk;
    if (r && r->observe) fpf__observe(r, a0);
    if (a.k->q) { fpf__qconv2d(r, a0); return; } /* an int8 layer */
    a.kern = r && r->kern ? r->kern : &fpf__kernels__scalar;
    if (!a.k->wp) { /* a layer not packed by the loader (tests) */
        int i;
        for (i = 0; i < (a.batch > 1 ? a.batch : 1); i++) {
            fpf__conv_args one = a;
            one.in.d += (size_t)i * a.in_bs; one.out.d += (size_t)i * a.out_bs;
            fpf__f32_conv__ref(&one);
        }
        return;
    }
    if (fpf__wino_conv2d(r, &a)) return;                                 /* a 3×3 fp32 layer */
    if (a.flat) { fpf__parallel(r, fpf__flat_task, &a, fpf__flat_split(&a, a.kern->px, (a.k->cout + a.kern->cb - 1) / a.kern->cb)); return; }
    a.rpt = fpf__rows_per_task(a.out.h, a.out.w);
    a.tile = fpf__tile_w(a.k);
    tiles = (a.out.w + a.tile - 1) / a.tile;
    units = ((a.out.h + a.rpt - 1) / a.rpt) * tiles * (a.batch > 1 ? a.batch : 1);
    nblk = (a.k->cout + a.kern->cb - 1) / a.kern->cb;
    a.groups = units >= 32 ? 1 : (32 / units < nblk ? 32 / units : nblk);
    fpf__parallel(r, fpf__conv_task, &a, units * a.groups);
}

/* Convenience: conv with "same"-style symmetric padding (k−1)/2 and output size from stride;
   flags is the epilogue (FPF__RELU | ...), res its residual map or NULL. */
static void fpf__conv_run(const fpf__runner *r, const fpf__conv *k, fpf__map in, fpf__map out,
                          int stride, int flags, const fpf__map *res) {
    fpf__conv_args a;
    memset(&a, 0, sizeof a);
    a.k = k; a.in = in; a.out = out; a.stride = stride; a.pad = (k->kh - 1) / 2;
    a.flags = flags; a.res = res;
    fpf__conv2d(r, &a);
}

/* The same on a band of rows: out holds rows y0 .. y0+out.h−1 of the whole output, in holds rows
   iy0 .. of the whole input (it must cover every row those outputs read, except the zero
   padding outside the whole input), res is whole. Bands keep big maps from being stored whole. */
static void fpf__conv_band(const fpf__runner *r, const fpf__conv *k, fpf__map in, int iy0, fpf__map out,
                           int y0, int stride, int flags, const fpf__map *res) {
    fpf__conv_args a;
    memset(&a, 0, sizeof a);
    a.k = k; a.in = in; a.out = out; a.stride = stride; a.pad = (k->kh - 1) / 2;
    a.flags = flags; a.res = res;
    a.y0 = y0; a.iy0 = iy0;
    fpf__conv2d(r, &a);
}

/* ---------------------------------------------------------------------------------------------
   Winograd F(2×2, 3×3) (Lavin & Gray 2016) for the fp32 3×3 convs of the FPN, the RPN and the mask
   head, the bulk of the work (§13). A 2×2 block of outputs (a "tile") reads a 4×4 input patch d:
       V = Bᵀ d B  per input channel          (16 values ξ = 4i + j per tile)
       U = G g Gᵀ  per input/output channel   (made once at load: fpf__wino_pack)
       M[ξ] = Σ_ci V[ξ][ci] · U[ξ][ci][co]    (16 1×1 convs over a batch of tiles)
       Y = Aᵀ M A                              (the 2×2 outputs, then bias and the epilogue)
   with
       Bᵀ = | 1  0 −1  0 |     G = |  1    0    0  |     Aᵀ = | 1  1  1  0 |
            | 0  1  1  0 |         | 1/2  1/2  1/2 |          | 0  1 −1 −1 |
            | 0 −1  1  0 |         | 1/2 −1/2  1/2 |
            | 0  1  0 −1 |         |  0    0    1  |
   so a tile costs 16 multiply-adds per (ci, co) instead of 36. The sums M run on the ordinary
   kernel rows (their fixed ci order, fused or not as the row is) with a zero bias; the transforms
   (the rows' f32_wino_in / f32_wino_out) are float adds in one order. So every row gives the bits
   of fpf__f32_wino__ref, and any thread count the same bits. They are not the direct conv's bits:
   the transforms round differently (docs/ARCHITECTURE.md §13 gives the measured difference).
   fpf_options.conv3x3 = FPF_CONV3X3_DIRECT runs the direct conv instead.

   A task takes up to FPF__WINO_NT consecutive tiles (over the images of a batch, rows of tiles,
   tiles of a row) and a group of output-channel blocks: V of its tiles, then per block of K->cb
   channels the 16 sums and the outputs. The tasks run in waves, each task with its own scratch slot
   in the session's wbuf (fpf__wino_slot floats), so nothing is allocated: a wave is
   fpf__wino_wave(opt) tasks, 2 per thread and at least FPF__WINO_WAVE. The wave size changes no
   output bit (tests/test_kernels.c runs two). */
#define FPF__WINO_NT 64
#define FPF__WINO_WAVE 8
#define FPF__WINO_WAVE_MAX 64
#define FPF__WINO_CB 32 /* the widest kernel row's channel block */
/* The 16 planes of V and of M sit a plane and 64 bytes apart: planes a multiple of 4 KiB apart
   would all fall in one L1 set, and the transforms touch all 16 at once. */
static size_t fpf__wino_vs(int cin) { return (size_t)FPF__WINO_NT * cin + 16; }
static size_t fpf__wino_ms(void) { return (size_t)FPF__WINO_NT * FPF__WINO_CB + 16; }
static size_t fpf__wino_slot(int cin) { return 16 * (fpf__wino_vs(cin) + fpf__wino_ms()); }

typedef struct fpf__wino_args {
    const fpf__conv_args *a; /* the conv: its batch, bands (y0, iy0), epilogue, kern */
    float *buf;              /* wave slots */
    size_t slot;             /* floats per slot */
    int first;               /* the wave's first task */
    int tw, per_img, total;  /* tiles per row of tiles, per image, in all */
    int nt, groups, nblk;    /* tiles per task, channel groups, channel blocks of kern->cb */
    void (*after)(const struct fpf__wino_args *w, int l0, int n); /* or NULL: once a task's tiles */
    const void *after_ctx;   /* [l0, l0 + n) are done in every channel (the RPN's head, fused) */
} fpf__wino_args;

/* Tile l: its image, and its first output row and column in that image. */
static void fpf__wino_tile(const fpf__wino_args *w, int l, int *img, int *y, int *x) {
    int r;
    *img = l / w->per_img; r = l - *img * w->per_img;
    *y = 2 * (r / w->tw); *x = 2 * (r % w->tw);
}

/* The 16 input rows of the 4×4 patch of the tile at output (y, x) of image img: fpf__zeros outside. */
static void fpf__wino_patch(const fpf__conv_args *a, int img, int y, int x, const float **src) {
    const float *base = a->in.d + (a->batch > 1 ? (size_t)img * a->in_bs : 0);
    int r, c;
    for (r = 0; r < 4; r++) {
        int iy = y + a->y0 - 1 + r - a->iy0;
        for (c = 0; c < 4; c++) {
            int ix = x - 1 + c;
            src[4 * r + c] = iy >= 0 && iy < a->in.h && ix >= 0 && ix < a->in.w
                                 ? base + ((size_t)iy * a->in.w + ix) * a->in.ld : fpf__zeros;
        }
    }
}

/* The next tile in task order after the one at (img, y, x): along the row of tiles, then down, then
   into the next image. Returns 1 when the image changes. */
static int fpf__wino_next(const fpf__conv_args *a, int *img, int *y, int *x) {
    if ((*x += 2) < a->out.w) return 0;
    *x = 0;
    if ((*y += 2) < a->out.h) return 0;
    *y = 0; ++*img;
    return 1;
}

/* a's view of image img of its batch (the output side; fpf__wino_patch does the input side). */
static fpf__conv_args fpf__wino_view(const fpf__conv_args *a, int img) {
    fpf__conv_args v = *a;
    if (a->batch > 1) v.out.d += (size_t)img * a->out_bs;
    return v;
}

/* Outputs of tiles [l0, l0 + n) for the cb channels from c0, from their sums M (M[ξ] at M + ξ·ms,
   cb floats a tile). The tiles are walked in order: a new image takes a new view of a. */
static void fpf__wino_store(const fpf__wino_args *w, int l0, int n, const float *M, size_t ms, int c0, int cb) {
    const fpf__conv_args *a = w->a;
    int l, img, y, x;
    fpf__conv_args v;
    fpf__wino_tile(w, l0, &img, &y, &x);
    v = fpf__wino_view(a, img);
    for (l = 0; l < n; l++) {
        a->kern->f32_wino_out(&v, M + (size_t)l * cb, ms, cb, y, x, c0, a->out.h - y < 2 ? 1 : 2, a->out.w - x < 2 ? 1 : 2);
        if (fpf__wino_next(a, &img, &y, &x)) v = fpf__wino_view(a, img);
    }
}

/* M[ξ] (n tiles × cb) = V[ξ] (n × cin) · U[ξ][:, c0 .. c0+cb), as a 1×1 conv with zero bias on the kernel row. */
static void fpf__wino_sums(const fpf__conv_args *a, const float *V, size_t vs, int n, float *M, size_t ms, int c0, int cb) {
    const fpf__conv *k = a->k;
    size_t st = fpf__wino_stride(k);
    int xi;
    for (xi = 0; xi < 16; xi++) {
        fpf__conv u;
        fpf__conv_args g;
        memset(&u, 0, sizeof u);
        u.kh = u.kw = 1; u.cin = k->cin; u.cout = cb; u.b = fpf__zeros; u.layer = -1;
        u.wp = k->wino + xi * st + (size_t)(c0 / 16) * k->cin * 16; u.pstride = (size_t)k->cin * 16;
        memset(&g, 0, sizeof g);
        g.k = &u; g.stride = 1; g.kern = a->kern;
        g.in = fpf__mk((float *)(uintptr_t)(V + xi * vs), 1, n, k->cin);
        g.out = fpf__mk(M + xi * ms, 1, n, cb);
        fpf__conv_tile(&g, 0, 1, 0, n, 0, 1);
    }
}

static void fpf__wino_task(void *ctx, int i) {
    const fpf__wino_args *w = (const fpf__wino_args *)ctx;
    const fpf__conv_args *a = w->a;
    int task = w->first + i, g = task % w->groups, l0 = task / w->groups * w->nt;
    int n = w->total - l0 < w->nt ? w->total - l0 : w->nt, cin = a->k->cin, l, blk, img, y, x;
    size_t vs = fpf__wino_vs(cin), ms = fpf__wino_ms();
    float *V = w->buf + (size_t)i * w->slot, *M = V + 16 * vs;
    fpf__wino_tile(w, l0, &img, &y, &x);
    for (l = 0; l < n; l++) {                                             /* V [16][n][cin] */
        const float *src[16];
        fpf__wino_patch(a, img, y, x, src);
        a->kern->f32_wino_in(src, cin, V + (size_t)l * cin, vs);
        fpf__wino_next(a, &img, &y, &x);
    }
    for (blk = g * w->nblk / w->groups; blk < (g + 1) * w->nblk / w->groups; blk++) {
        int c0 = blk * a->kern->cb, cb = a->k->cout - c0 < a->kern->cb ? a->k->cout - c0 : a->kern->cb;
        fpf__wino_sums(a, V, vs, n, M, ms, c0, cb);                       /* M [16][n][cb] */
        fpf__wino_store(w, l0, n, M, ms, c0, cb);                         /* out (y, x, c0 .. c0+cb) */
    }
    if (w->after) w->after(w, l0, n);
}

/* Runs a as Winograd and returns 1, or returns 0 where it does not apply (then the direct conv runs).
   after (or NULL): see fpf__wino_args; then every task takes all the channels. */
static int fpf__wino_conv2d_then(const fpf__runner *r, const fpf__conv_args *a,
                                 void (*after)(const fpf__wino_args *w, int l0, int n), const void *after_ctx) {
    fpf__wino_args w;
    int chunks, tasks, th, wave;
    if (!fpf__wino_layer(a->k) || !r || !r->wbuf || a->k->cin > r->wino_cin || a->stride != 1 || a->pad != 1 ||
        a->qout || a->qin || a->kern->cb > FPF__WINO_CB || a->out.h < 1 || a->out.w < 1)
        return 0;
    memset(&w, 0, sizeof w);
    w.a = a; w.buf = r->wbuf; w.slot = fpf__wino_slot(a->k->cin);
    w.tw = (a->out.w + 1) / 2; th = (a->out.h + 1) / 2; w.per_img = w.tw * th;
    w.total = w.per_img * (a->batch > 1 ? a->batch : 1);
    chunks = (w.total + FPF__WINO_NT - 1) / FPF__WINO_NT;
    w.nt = (w.total + chunks - 1) / chunks;
    chunks = (w.total + w.nt - 1) / w.nt;
    w.nblk = (a->k->cout + a->kern->cb - 1) / a->kern->cb;
    w.groups = chunks >= 8 || after ? 1 : (8 + chunks - 1) / chunks; /* small maps: split the channels too */
    if (w.groups > w.nblk) w.groups = w.nblk;
    w.after = after; w.after_ctx = after_ctx;
    tasks = chunks * w.groups;
    wave = r->wave > 0 ? r->wave : FPF__WINO_WAVE;
    for (w.first = 0; w.first < tasks; w.first += wave)
        fpf__parallel(r, fpf__wino_task, &w, tasks - w.first < wave ? tasks - w.first : wave);
    return 1;
}

static int fpf__wino_conv2d(const fpf__runner *r, const fpf__conv_args *a) { return fpf__wino_conv2d_then(r, a, NULL, NULL); }

/* Tasks per wave of a session: 2 per thread (the built-in pool's size; a caller's parallel_for
   counts as 4 threads), at least FPF__WINO_WAVE, at most FPF__WINO_WAVE_MAX. */
static int fpf__wino_wave(const fpf_options *opt) {
    int t = opt && opt->parallel_for ? 4 : opt && opt->n_threads > 1 ? opt->n_threads : 1;
    return 2 * t < FPF__WINO_WAVE ? FPF__WINO_WAVE : 2 * t > FPF__WINO_WAVE_MAX ? FPF__WINO_WAVE_MAX : 2 * t;
}

/* The plain-loop twin: every output of a Winograd conv from the same transforms, with the 16 sums
   as plain loops (fused = 1: fmaf, as the SIMD rows; 0: product and sum rounded apart, as the
   scalar row), then + 0.0f as the rows' zero bias. */
#define FPF__WINO_REF_MAXC 512
static void fpf__f32_wino__ref_impl(const fpf__conv_args *a, int fused) {
    const fpf__conv *k = a->k;
    size_t st = fpf__wino_stride(k);
    int nimg = a->batch > 1 ? a->batch : 1, img, y, x, xi, co, ci;
    float V[16 * FPF__WINO_REF_MAXC], M[16];
    if (k->cin > FPF__WINO_REF_MAXC) return; /* a tests' twin: its layers are smaller */
    for (img = 0; img < nimg; img++) {
        fpf__conv_args v = fpf__wino_view(a, img);
        for (y = 0; y < a->out.h; y += 2)
            for (x = 0; x < a->out.w; x += 2) {
                const float *src[16];
                fpf__wino_patch(a, img, y, x, src);
                fpf__f32_wino_in__scalar(src, k->cin, V, (size_t)k->cin);
                for (co = 0; co < k->cout; co++) {
                    for (xi = 0; xi < 16; xi++) {
                        const float *u = k->wino + xi * st + (size_t)(co / 16) * k->cin * 16 + co % 16;
                        const float *v = V + (size_t)xi * k->cin;
                        float acc = 0.0f;
                        for (ci = 0; ci < k->cin; ci++)
                            acc = fused ? fmaf(v[ci], u[(size_t)ci * 16], acc) : acc + v[ci] * u[(size_t)ci * 16];
                        M[xi] = acc + 0.0f;
                    }
                    fpf__f32_wino_out__scalar(&v, M, 1, 1, y, x, co, a->out.h - y < 2 ? 1 : 2, a->out.w - x < 2 ? 1 : 2);
                }
            }
    }
}
FPF__REF_TWIN void fpf__f32_wino__ref(const fpf__conv_args *a) { fpf__f32_wino__ref_impl(a, 0); }
FPF__REF_TWIN void fpf__f32_wino__ref_fused(const fpf__conv_args *a) { fpf__f32_wino__ref_impl(a, 1); }

/* ---------------------------------------------------------------------------------------------
   int8 convolution: u8 activations × s8 weights, exact int32 sums, one requantization formula
   (header comment, "int8 quantized models"). An int8 layer quantizes the input rows its output
   needs into the runner's qbuf, then each block kernel sums Σ q_x·q_w over (tap, cin) in int32,
   and the shared epilogue subtracts z_x·Σq_w, scales and runs the float epilogue (bias, residual,
   upsample-add, ReLU, FPF-add). Integer sums are exact in any order, so every kernel row
   (scalar, AVX2, AVX-VNNI, AVX-512 VNNI, AMX-INT8, NEON, NEON dotprod) gives the bits of the reference
   twin fpf__qu8s8_conv__ref, which works from the file's HWIO weights without any packing. */

/* q = clamp(round_half_even(v / s) + z, 0, 255); NaN -> clamp(z − 512) = 0. The rounding is
   (t + 1.5·2^23) − 1.5·2^23, exact round-half-even for |t| <= 512, in every SIMD row too. */
#define FPF__RNE_MAGIC 12582912.0f
static uint8_t fpf__quant(float v, float s, int z) {
    float t = v / s;
    t = t > -512.0f ? t : -512.0f;
    t = t < 512.0f ? t : 512.0f;
    t = (t + FPF__RNE_MAGIC) - FPF__RNE_MAGIC;
    t = t + (float)z;
    t = t > 0.0f ? t : 0.0f;
    t = t < 255.0f ? t : 255.0f;
    return (uint8_t)t;
}

typedef struct fpf__qargs fpf__qargs;
typedef void (*fpf__qblock_fn)(const fpf__qargs *a, int y, int x0, int np, int c0, int cb);
typedef void (*fpf__qquant_fn)(const float *src, int n, float s, int z, uint8_t *dst);

/* The int8 kernel table: one row per instruction set, chosen at session set-up. */
struct fpf__qkernels {
    fpf_qisa isa;
    fpf__qblock_fn qu8s8_conv; /* px × cb output values */
    fpf__qquant_fn quant;      /* a row of floats to u8 */
    int px, cb;
    fpf__qblock_fn qu8s8_conv_small; /* px_small <= px pixels × cb, for row tails; NULL: none */
    int px_small;
    void (*tiles_on)(void);  /* run by a task before its block calls, and off after them: */
    void (*tiles_off)(void); /* AMX loads its tile palette and releases the tiles; NULL: none */
};

struct fpf__qargs {
    fpf__conv_args c;          /* the float call: out, res, relu, accumulate, bands, batch */
    const fpf__qconv *q;
    const uint8_t *x;          /* quantized input: pixel (iy, ix) at x + (iy·in.w + ix)·cin */
    const uint8_t *zrow;       /* cin (<= FPF__ZEROS) bytes of z_x, read by taps outside the input */
    size_t img;                /* bytes per image of a batch */
    const struct fpf__qkernels *kern;
};

/* The reference twin: one output value at a time, Σ over (ky, kx, ci) of (q_x − z_x)·q_w with the
   input quantized on the fly and the weights read from the file's HWIO s8 tensor. */
FPF__REF_TWIN void fpf__qu8s8_conv__ref(const fpf__conv_args *a) {
    const fpf__conv *k = a->k;
    const fpf__qconv *q = k->q;
    int y, x, co, ky, kx, ci;
    for (y = 0; y < a->out.h; y++)
        for (x = 0; x < a->out.w; x++)
            for (co = 0; co < k->cout; co++) {
                int32_t acc = 0;
                float v, *dst = a->out.d + ((size_t)y * a->out.w + x) * a->out.ld + co;
                for (ky = 0; ky < k->kh; ky++)
                    for (kx = 0; kx < k->kw; kx++) {
                        int iy = (y + a->y0) * a->stride - a->pad + ky - a->iy0, ix = x * a->stride - a->pad + kx;
                        size_t px = (size_t)iy * a->in.w + ix;
                        if (iy < 0 || iy >= a->in.h || ix < 0 || ix >= a->in.w) continue; /* q_x = z_x */
                        for (ci = 0; ci < k->cin; ci++) {
                            int qx = a->qin ? a->qin[px * k->cin + ci] : fpf__quant(a->in.d[px * a->in.ld + ci], q->in_scale, q->in_zero);
                            acc += (qx - q->in_zero) * q->w[(((size_t)ky * k->kw + kx) * k->cin + ci) * k->cout + co];
                        }
                    }
                v = fpf__epilogue(a, (float)acc * (q->in_scale * q->scale[co]), y, x, co, dst);
                if (a->qout) a->qout[((size_t)y * a->out.w + x) * k->cout + co] = fpf__quant(v, a->qout_s, a->qout_z);
                if (!a->qout || a->qkeep) *dst = v;
            }
}

/* The deconv's tap ab as a 1×1 int8 conv: rows ab·cin/4 .. of each panel, and its own sums. */
static const fpf__qconv *fpf__qtap(const fpf__qconv *q, int ab, int cin, int cout, fpf__qconv *tap) {
    *tap = *q;
    tap->w = q->w + (size_t)ab * cin * cout;
    tap->wp = q->wp + (size_t)ab * cin * 16;
    tap->wsum = q->wsum + (size_t)ab * q->wsum_tap;
    return tap;
}

/* Shared epilogue of a block held in acc[p][j] = Σ q_x·q_w (row stride ldacc):
   y = (float)(acc − z_x·Σq_w) · mul[co], then bias, residual, ReLU, accumulate as in fp32. */
static void fpf__qblock_store(const fpf__qargs *a, const int32_t *acc, int ldacc, int y, int x0,
                              int np, int c0, int cb) {
    const fpf__qconv *q = a->q;
    int p, j;
    for (p = 0; p < np; p++)
        for (j = 0; j < cb; j++) {
            int co = c0 + j;
            int32_t v = acc[p * ldacc + j] - q->in_zero * q->wsum[co];
            float *dst = a->c.out.d + ((size_t)y * a->c.out.w + x0 + p) * a->c.out.ld + co;
            float f = fpf__epilogue(&a->c, (float)v * q->mul[co], y, x0 + p, co, dst);
            if (a->c.qout) /* an int8 chain: the u8 its reader would make of the float */
                a->c.qout[((size_t)y * a->c.out.w + x0 + p) * a->c.k->cout + co] = fpf__quant(f, a->c.qout_s, a->c.qout_z);
            if (!a->c.qout || a->c.qkeep) *dst = f;
        }
}

/* fpf__qtap_rows for a flat batch (fpf__flat_tap_rows). */
FPF__INLINE void fpf__flat_qtap_rows(const fpf__qargs *a, int x0, int np, int ky, int kx, const uint8_t **src, int px) {
    const fpf__conv_args *c = &a->c;
    int p, i, y, x, cin = c->k->cin;
    fpf__flat_pos(c, x0, &i, &y, &x);
    for (p = 0; p < px; p++) {
        int iy = y * c->stride - c->pad + ky, ix = x * c->stride - c->pad + kx;
        int ok = iy >= 0 && iy < c->in.h && ix >= 0 && ix < c->in.w;
        src[p] = p >= np ? src[0] : ok ? a->x + (size_t)i * a->img + ((size_t)iy * c->in.w + ix) * cin : a->zrow;
        if (++x == c->out.w) { x = 0; if (++y == c->out.h) { y = 0; i++; } }
    }
}

/* Input rows of the px pixels of a block for tap (ky, kx); outside the input: the z_x row. */
FPF__INLINE void fpf__qtap_rows(const fpf__qargs *a, int y, int x0, int np, int ky, int kx, const uint8_t **src, int px) {
    const fpf__conv_args *c = &a->c;
    int p, iy = (y + c->y0) * c->stride - c->pad + ky - c->iy0, cin = c->k->cin;
    if (c->flat) { fpf__flat_qtap_rows(a, x0, np, ky, kx, src, px); return; }
    for (p = 0; p < px; p++) {
        int ix = (x0 + p) * c->stride - c->pad + kx;
        int ok = iy >= 0 && iy < c->in.h && ix >= 0 && ix < c->in.w;
        src[p] = p >= np ? src[0] : ok ? a->x + ((size_t)iy * c->in.w + ix) * cin : a->zrow;
    }
}

/* Row (tap, cin/4 group g) of the panel holding channel c0: 16 channels × 4 inputs. */
static const int8_t *fpf__qpanel(const fpf__qargs *a, int c0, int ky, int kx) {
    const fpf__conv *k = a->c.k;
    return a->q->wp + (size_t)(c0 / 16) * a->q->pstride + ((size_t)ky * k->kw + kx) * k->cin * 16 + (size_t)(c0 % 16) * 4;
}
#if defined(FPF__X86) || defined(FPF__NEON)
static uint32_t fpf__ld4(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
#endif

/* Portable: 4 pixels × 16 channels, plain loops. */
static void fpf__qu8s8_conv_4x16c4__scalar(const fpf__qargs *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->c.k;
    int32_t acc[4][16];
    int ky, kx, g, p, j;
    memset(acc, 0, sizeof acc);
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const uint8_t *src[4];
            const int8_t *w = fpf__qpanel(a, c0, ky, kx);
            fpf__qtap_rows(a, y, x0, np, ky, kx, src, 4);
            for (g = 0; g < k->cin / 4; g++, w += 64)
                for (p = 0; p < 4; p++) {
                    const uint8_t *s = src[p] + 4 * g;
                    for (j = 0; j < 16; j++)
                        acc[p][j] += s[0] * w[4 * j] + s[1] * w[4 * j + 1] + s[2] * w[4 * j + 2] + s[3] * w[4 * j + 3];
                }
        }
    fpf__qblock_store(a, &acc[0][0], 16, y, x0, np, c0, cb);
}

static void fpf__qquant__scalar(const float *src, int n, float s, int z, uint8_t *dst) {
    int i;
    for (i = 0; i < n; i++) dst[i] = fpf__quant(src[i], s, z);
}

#if defined(FPF__X86)
#define FPF__AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma")))
#define FPF__AVXVNNI __attribute__((target("avxvnni,avx2,fma")))

/* The quantizer in 8 and 16 lanes: the same operations as fpf__quant (max with the NaN-taking
   operand second, so NaN -> −512 as in the scalar compare). */
FPF__AVX2 static __m128i fpf__qquant_vec__avx2(__m256 v, float s, int z) { /* 8 bytes in the low half */
    __m256 t = _mm256_div_ps(v, _mm256_set1_ps(s));
    __m256i i;
    __m128i p16;
    t = _mm256_max_ps(t, _mm256_set1_ps(-512.0f));
    t = _mm256_min_ps(t, _mm256_set1_ps(512.0f));
    t = _mm256_sub_ps(_mm256_add_ps(t, _mm256_set1_ps(FPF__RNE_MAGIC)), _mm256_set1_ps(FPF__RNE_MAGIC));
    t = _mm256_add_ps(t, _mm256_set1_ps((float)z));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
    i = _mm256_cvttps_epi32(t);
    p16 = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    return _mm_packus_epi16(p16, p16);
}
FPF__AVX512VNNI static __m128i fpf__qquant_vec__avx512(__m512 v, float s, int z) {
    __m512 t = _mm512_div_ps(v, _mm512_set1_ps(s));
    t = _mm512_max_ps(t, _mm512_set1_ps(-512.0f));
    t = _mm512_min_ps(t, _mm512_set1_ps(512.0f));
    t = _mm512_sub_ps(_mm512_add_ps(t, _mm512_set1_ps(FPF__RNE_MAGIC)), _mm512_set1_ps(FPF__RNE_MAGIC));
    t = _mm512_add_ps(t, _mm512_set1_ps((float)z));
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
    return _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(t));
}

/* The vector epilogue of 8 channels from co (AVX-VNNI): y = (float)(acc − z_x·Σq_w) · m, lane by
   lane, then the fp32 kernels' store (bias, residual, ReLU, accumulate): the scalar epilogue's
   operations. In an int8 chain (qout): bias, residual and ReLU as that store, the floats when
   qkeep, then the quantizer's 8 bytes. */
FPF__AVXVNNI static void fpf__qu8s8_conv_store__avxvnni(const fpf__qargs *a, __m256i acc, int y, int x, int co) {
    __m256i s = _mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(a->q->in_zero), _mm256_loadu_si256((const __m256i *)(const void *)(a->q->wsum + co))));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_loadu_ps(a->q->mul + co));
    if (a->c.qout) {
        v = _mm256_add_ps(v, _mm256_loadu_ps(a->c.k->b + co));
        if (a->c.res) v = _mm256_add_ps(v, _mm256_loadu_ps(fpf__res_at(&a->c, y, x, co)));
        if (a->c.flags & FPF__RELU) v = _mm256_max_ps(_mm256_setzero_ps(), v);
        if (a->c.qkeep) _mm256_storeu_ps(a->c.out.d + ((size_t)y * a->c.out.w + x) * a->c.out.ld + co, v);
        _mm_storel_epi64((__m128i *)(void *)(a->c.qout + ((size_t)y * a->c.out.w + x) * a->c.k->cout + co),
                         fpf__qquant_vec__avx2(v, a->c.qout_s, a->c.qout_z));
        return;
    }
    fpf__f32_conv_store__avx2(&a->c, v, y, x, co);
}

/* The vector epilogue of one pixel's 32 channels from c0, sums s0, s1 = Σ (q_x − z_x)·q_w, with the
   multipliers m and biases b of those channels: the scalar epilogue's operations, lane by lane. */
FPF__AVX512VNNI static inline __attribute__((always_inline)) void fpf__qstore_px32__avx512(
    const fpf__conv_args *c, __m512i s0, __m512i s1, __m512 m0, __m512 m1, __m512 b0, __m512 b1, int y, int x, int c0) {
    size_t px = (size_t)y * c->out.w + x;
    float *dst = c->out.d + px * c->out.ld + c0;
    __m512 v0 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s0), m0), b0);
    __m512 v1 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s1), m1), b1);
    if (c->res) {
        const float *r = fpf__res_at(c, y, x, c0);
        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(r));
        v1 = _mm512_add_ps(v1, _mm512_loadu_ps(r + 16));
    }
    if (c->flags & FPF__RELU) { v0 = _mm512_max_ps(_mm512_setzero_ps(), v0); v1 = _mm512_max_ps(_mm512_setzero_ps(), v1); }
    if (c->flags & FPF__ACCUMULATE) { v0 = _mm512_add_ps(_mm512_loadu_ps(dst), v0); v1 = _mm512_add_ps(_mm512_loadu_ps(dst + 16), v1); }
    if (!c->qout || c->qkeep) { _mm512_storeu_ps(dst, v0); _mm512_storeu_ps(dst + 16, v1); }
    if (c->qout) {
        uint8_t *qd = c->qout + px * c->k->cout + c0;
        _mm_storeu_si128((__m128i *)(void *)qd, fpf__qquant_vec__avx512(v0, c->qout_s, c->qout_z));
        _mm_storeu_si128((__m128i *)(void *)(qd + 16), fpf__qquant_vec__avx512(v1, c->qout_s, c->qout_z));
    }
}

/* AVX-512 VNNI: 12 pixels × 32 channels (two panels) in 24 zmm; vpdpbusd adds four u8·s8
   products per int32 lane. The zero panel past the last lets the second panel always be read.
   The sums start at −z_x·Σq_w, so they end as Σ (q_x − z_x)·q_w with no correction (the same
   integers: every partial sum stays within ±2^31). The epilogue of a whole block runs here, with
   the multipliers and biases loaded once: the scalar epilogue's operations, lane by lane. */
#define FPF__QPX512 12
FPF__AVX512VNNI static inline __attribute__((always_inline)) void fpf__qu8s8_conv_px32c4__avx512vnni(
    const fpf__qargs *a, int y, int x0, int np, int c0, int cb, const int PX) {
    const fpf__conv *k = a->c.k;
    const fpf__conv_args *c = &a->c;
    __m512i acc[FPF__QPX512][2], z0, z1;
    int32_t t[FPF__QPX512][32];
    int p, ky, kx, g, G = k->cin / 4;
    z0 = _mm512_mullo_epi32(_mm512_set1_epi32(-a->q->in_zero), _mm512_loadu_si512((const void *)(a->q->wsum + c0)));
    z1 = _mm512_mullo_epi32(_mm512_set1_epi32(-a->q->in_zero), _mm512_loadu_si512((const void *)(a->q->wsum + c0 + 16)));
    FPF__UNROLL for (p = 0; p < PX; p++) { acc[p][0] = z0; acc[p][1] = z1; }
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const uint8_t *src[FPF__QPX512];
            const int8_t *w = fpf__qpanel(a, c0, ky, kx), *v = w + a->q->pstride;
            fpf__qtap_rows(a, y, x0, np, ky, kx, src, PX);
            for (g = 0; g < G; g++, w += 64, v += 64) {
                __m512i w0 = _mm512_loadu_si512((const void *)w), w1 = _mm512_loadu_si512((const void *)v);
                _Pragma("GCC unroll 12") for (p = 0; p < PX; p++) {
                    __m512i x = _mm512_set1_epi32((int)fpf__ld4(src[p] + 4 * g));
                    acc[p][0] = _mm512_dpbusd_epi32(acc[p][0], x, w0);
                    acc[p][1] = _mm512_dpbusd_epi32(acc[p][1], x, w1);
                }
            }
        }
    if (cb == 32) { /* whole vectors: the vector epilogue */
        const __m512 m0 = _mm512_loadu_ps(a->q->mul + c0), m1 = _mm512_loadu_ps(a->q->mul + c0 + 16);
        const __m512 b0 = _mm512_loadu_ps(k->b + c0), b1 = _mm512_loadu_ps(k->b + c0 + 16);
        _Pragma("GCC unroll 12") for (p = 0; p < PX; p++)
            if (p < np) fpf__qstore_px32__avx512(c, acc[p][0], acc[p][1], m0, m1, b0, b1, y, x0 + p, c0);
        return;
    }
    z0 = _mm512_sub_epi32(_mm512_setzero_si512(), z0); z1 = _mm512_sub_epi32(_mm512_setzero_si512(), z1);
    FPF__UNROLL for (p = 0; p < PX; p++) { /* back to Σ q_x·q_w for the shared epilogue */
        _mm512_storeu_si512((void *)t[p], _mm512_add_epi32(acc[p][0], z0));
        _mm512_storeu_si512((void *)(t[p] + 16), _mm512_add_epi32(acc[p][1], z1));
    }
    fpf__qblock_store(a, &t[0][0], 32, y, x0, np, c0, cb);
}
FPF__AVX512VNNI static void fpf__qu8s8_conv_12x32c4__avx512vnni(const fpf__qargs *a, int y, int x0, int np, int c0, int cb) {
    fpf__qu8s8_conv_px32c4__avx512vnni(a, y, x0, np, c0, cb, 12);
}
FPF__AVX512VNNI static void fpf__qu8s8_conv_8x32c4__avx512vnni(const fpf__qargs *a, int y, int x0, int np, int c0, int cb) {
    fpf__qu8s8_conv_px32c4__avx512vnni(a, y, x0, np, c0, cb, 8);
}

#if defined(FPF__AMX)
/* Intel AMX-INT8 (Sapphire Rapids and later): tdpbusd multiplies a tile of 16 pixels × 64 input
   bytes (u8) by a tile of 16 rows of [16 channels × 4 inputs] (s8: the packed panel rows, as
   they are) into 16 × 16 int32 sums, four u8·s8 products per sum, exact and unsaturated like
   vpdpbusd. 32 pixels × 32 channels: sums in tiles 0..3 (pixel half h, panel j: tile 2h + j),
   inputs in 4..5, weights in 6..7; all eight tiles 16 rows × 64 bytes (the palette below). A
   tile of inputs loads straight from the map where its 16 pixels lie evenly spaced (a row
   inside the input, stride 1 or 2); a block at the map's edge, a row tail, a flat batch's row
   change and the last input chunk when cin is not a multiple of 64 copy their rows into a
   staging tile first (missing inputs: z_x as in every row; bytes past cin: 0, with zero weight
   rows beside them). The tile palette is loaded by the task around the calls (tiles_on). The
   sums, stored to memory, go through the AVX-512 epilogue. Stack: 22 KiB of staging and sums. */
#define FPF__AMX_T __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vnni,avx2,fma")))
/* GCC's tile loads and stores are asm without memory operands: a fence tells it the staging and
   sum buffers are read or written there. */
#define FPF__AMX_FENCE(p) __asm__ volatile("" : : "r"(p) : "memory")
static const unsigned char fpf__amx_palette[64] = { /* palette 1; tiles 0..7: 16 rows × 64 bytes */
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0, 64, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0};

/* Whether the 16 input rows src[0..15] lie step bytes apart (one tile load reads them). */
FPF__INLINE int fpf__amx_even(const uint8_t *const *src, long step) {
    int p, ok = 1;
    for (p = 1; p < 16; p++) ok &= src[p] == src[0] + p * step;
    return ok;
}

/* A staging tile: inputs [k0, k0 + kb) of the 16 rows src[0..15], zero past kb. */
FPF__AMX_T static inline __attribute__((always_inline)) void fpf__amx_stage(const uint8_t *const *src, int k0, int kb, uint8_t *dst) {
    __mmask64 m = kb == 64 ? ~(__mmask64)0 : ((__mmask64)1 << kb) - 1;
    int p;
    for (p = 0; p < 16; p++) _mm512_store_si512((void *)(dst + 64 * p), _mm512_maskz_loadu_epi8(m, src[p] + k0));
}

/* The tile state of a task's block calls (the kernels' tiles_on / tiles_off): loaded once per task,
   released at its end, so no state outlives a task and no thread keeps 8 KiB of tiles. */
FPF__AMX_T static void fpf__amx_on(void) { _tile_loadconfig(fpf__amx_palette); }
FPF__AMX_T static void fpf__amx_off(void) { _tile_release(); }

#define FPF__QPXAMX 32
#define FPF__AMX_KG 8 /* input chunks staged at a time: 2 × 8 KiB of stack */
FPF__AMX_T static void fpf__qu8s8_conv_32x32c4__amx(const fpf__qargs *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->c.k;
    const fpf__conv_args *c = &a->c;
    int32_t t[32][32] __attribute__((aligned(64)));
    uint8_t sa[2][FPF__AMX_KG][1024] __attribute__((aligned(64))), sb[2][1024] __attribute__((aligned(64)));
    int ky, kx, k0, kc, p, cin = k->cin, two = np > 16, wide = cb > 16;
    long step = (long)cin * c->stride;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    if (cin % 64) memset(sb, 0, sizeof sb); /* the weight rows past cin in the last chunk */
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const uint8_t *src[FPF__QPXAMX];
            const int8_t *w = fpf__qpanel(a, c0, ky, kx), *v = w + a->q->pstride;
            int iy = (y + c->y0) * c->stride - c->pad + ky - c->iy0, ix = x0 * c->stride - c->pad + kx, even0, even1;
            if (!c->flat && iy >= 0 && iy < c->in.h && ix >= 0 && (x0 + np - 1) * c->stride - c->pad + kx < c->in.w && np >= 16 * (1 + two)) {
                int p0;
                src[0] = a->x + ((size_t)iy * c->in.w + ix) * cin; /* a row inside the input */
                for (p0 = 1; p0 < 16 * (1 + two); p0++) src[p0] = src[0] + p0 * step;
                even0 = even1 = 1;
            } else {
                fpf__qtap_rows(a, y, x0, np, ky, kx, src, FPF__QPXAMX);
                even0 = fpf__amx_even(src, step); even1 = two && fpf__amx_even(src + 16, step);
            }
            for (k0 = 0; k0 < cin; k0 += 64 * FPF__AMX_KG) { /* staged tiles of up to KG chunks first, */
                int k1 = cin - k0 < 64 * FPF__AMX_KG ? cin : k0 + 64 * FPF__AMX_KG; /* then their sums: a tile */
                for (kc = k0; kc < k1; kc += 64) {          /* load does not wait on the stores just made */
                    int kb = cin - kc < 64 ? cin - kc : 64;
                    if (!(even0 && kb == 64)) fpf__amx_stage(src, kc, kb, sa[0][(kc - k0) / 64]);
                    if (two && !(even1 && kb == 64)) fpf__amx_stage(src + 16, kc, kb, sa[1][(kc - k0) / 64]);
                }
                FPF__AMX_FENCE(sa);
                for (kc = k0; kc < k1; kc += 64) {
                    int kb = cin - kc < 64 ? cin - kc : 64;
                    const int8_t *b0 = w + 16 * kc, *b1 = v + 16 * kc; /* rows kc/4 .. of the panels */
                    if (kb < 64) { memcpy(sb[0], b0, (size_t)16 * kb); memcpy(sb[1], b1, (size_t)16 * kb); b0 = (const int8_t *)sb[0]; b1 = (const int8_t *)sb[1]; }
                    FPF__AMX_FENCE(sb);
                    if (even0 && kb == 64) _tile_loadd(4, src[0] + kc, step);
                    else _tile_loadd(4, sa[0][(kc - k0) / 64], 64);
                    _tile_loadd(6, b0, 64);
                    _tile_dpbusd(0, 4, 6);
                    if (wide) { _tile_loadd(7, b1, 64); _tile_dpbusd(1, 4, 7); }
                    if (two) {
                        if (even1 && kb == 64) _tile_loadd(5, src[16] + kc, step);
                        else _tile_loadd(5, sa[1][(kc - k0) / 64], 64);
                        _tile_dpbusd(2, 5, 6);
                        if (wide) _tile_dpbusd(3, 5, 7);
                    }
                }
            }
        }
    _tile_stored(0, &t[0][0], 128); _tile_stored(1, &t[0][16], 128);
    _tile_stored(2, &t[16][0], 128); _tile_stored(3, &t[16][16], 128);
    FPF__AMX_FENCE(t);
    if (cb == 32) { /* Σ q_x·q_w − z_x·Σq_w, then the vector epilogue */
        const __m512i z = _mm512_set1_epi32(a->q->in_zero);
        const __m512i zw0 = _mm512_mullo_epi32(z, _mm512_loadu_si512((const void *)(a->q->wsum + c0)));
        const __m512i zw1 = _mm512_mullo_epi32(z, _mm512_loadu_si512((const void *)(a->q->wsum + c0 + 16)));
        const __m512 m0 = _mm512_loadu_ps(a->q->mul + c0), m1 = _mm512_loadu_ps(a->q->mul + c0 + 16);
        const __m512 b0 = _mm512_loadu_ps(k->b + c0), b1 = _mm512_loadu_ps(k->b + c0 + 16);
        for (p = 0; p < np; p++)
            fpf__qstore_px32__avx512(c, _mm512_sub_epi32(_mm512_load_si512((const void *)t[p]), zw0),
                                     _mm512_sub_epi32(_mm512_load_si512((const void *)(t[p] + 16)), zw1), m0, m1, b0, b1, y, x0 + p, c0);
        return;
    }
    fpf__qblock_store(a, &t[0][0], 32, y, x0, np, c0, cb);
}
#endif /* FPF__AMX */

/* AVX-VNNI (VEX vpdpbusd on ymm): 6 pixels × 16 channels. */
FPF__AVXVNNI static void fpf__qu8s8_conv_6x16c4__avxvnni(const fpf__qargs *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->c.k;
    __m256i acc[6][2];
    int32_t t[6][16];
    int p, ky, kx, g;
    FPF__UNROLL for (p = 0; p < 6; p++) acc[p][0] = acc[p][1] = _mm256_setzero_si256();
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const uint8_t *src[6];
            const int8_t *w = fpf__qpanel(a, c0, ky, kx);
            fpf__qtap_rows(a, y, x0, np, ky, kx, src, 6);
            for (g = 0; g < k->cin / 4; g++, w += 64) {
                __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)w);
                __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(w + 32));
                FPF__UNROLL for (p = 0; p < 6; p++) {
                    __m256i x = _mm256_set1_epi32((int)fpf__ld4(src[p] + 4 * g));
                    acc[p][0] = _mm256_dpbusd_avx_epi32(acc[p][0], x, w0);
                    acc[p][1] = _mm256_dpbusd_avx_epi32(acc[p][1], x, w1);
                }
            }
        }
    if (cb == 16) {
        FPF__UNROLL for (p = 0; p < 6; p++)
            if (p < np) { fpf__qu8s8_conv_store__avxvnni(a, acc[p][0], y, x0 + p, c0); fpf__qu8s8_conv_store__avxvnni(a, acc[p][1], y, x0 + p, c0 + 8); }
        return;
    }
    FPF__UNROLL for (p = 0; p < 6; p++) {
        _mm256_storeu_si256((__m256i *)(void *)t[p], acc[p][0]);
        _mm256_storeu_si256((__m256i *)(void *)(t[p] + 8), acc[p][1]);
    }
    fpf__qblock_store(a, &t[0][0], 16, y, x0, np, c0, cb);
}

/* AVX2 without VNNI: vpmaddubsw would saturate (255·127·2 > 32767), so both operands are
   widened to int16 and vpmaddwd sums pairs into int32 (|pair| <= 2·255·128, exact). The four
   inputs of a channel land in two lanes that are added at the end. 6 pixels × 8 channels. */
FPF__AVX2 static void fpf__qu8s8_conv_6x8c4__avx2(const fpf__qargs *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->c.k;
    __m256i acc[6][2];
    int32_t t[6][16], u[6][8];
    int p, j, ky, kx, g;
    FPF__UNROLL for (p = 0; p < 6; p++) acc[p][0] = acc[p][1] = _mm256_setzero_si256();
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const uint8_t *src[6];
            const int8_t *w = fpf__qpanel(a, c0, ky, kx);
            fpf__qtap_rows(a, y, x0, np, ky, kx, src, 6);
            for (g = 0; g < k->cin / 4; g++, w += 64) {
                __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)w));
                __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(w + 16)));
                FPF__UNROLL for (p = 0; p < 6; p++) {
                    __m256i x = _mm256_cvtepu8_epi16(_mm_set1_epi32((int)fpf__ld4(src[p] + 4 * g)));
                    acc[p][0] = _mm256_add_epi32(acc[p][0], _mm256_madd_epi16(x, w0));
                    acc[p][1] = _mm256_add_epi32(acc[p][1], _mm256_madd_epi16(x, w1));
                }
            }
        }
    FPF__UNROLL for (p = 0; p < 6; p++) {
        _mm256_storeu_si256((__m256i *)(void *)t[p], acc[p][0]);
        _mm256_storeu_si256((__m256i *)(void *)(t[p] + 8), acc[p][1]);
    }
    for (p = 0; p < 6; p++)
        for (j = 0; j < 8; j++) u[p][j] = t[p][2 * j] + t[p][2 * j + 1];
    fpf__qblock_store(a, &u[0][0], 8, y, x0, np, c0, cb);
}

/* A row of floats to u8 through the vector quantizers above. */
FPF__AVX2 static void fpf__qquant__avx2(const float *src, int n, float s, int z, uint8_t *dst) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm_storel_epi64((__m128i *)(void *)(dst + i), fpf__qquant_vec__avx2(_mm256_loadu_ps(src + i), s, z));
    for (; i < n; i++) dst[i] = fpf__quant(src[i], s, z);
}

FPF__AVX512VNNI static void fpf__qquant__avx512(const float *src, int n, float s, int z, uint8_t *dst) {
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm_storeu_si128((__m128i *)(void *)(dst + i), fpf__qquant_vec__avx512(_mm512_loadu_ps(src + i), s, z));
    for (; i < n; i++) dst[i] = fpf__quant(src[i], s, z);
}
#endif /* FPF__X86 */

#if defined(FPF__NEON)
/* Plain NEON: both operands widened to int16, vmlal into int32 lanes per (channel, input); the
   four lanes of a channel are added at the end. 1 pixel × 16 channels. */
static void fpf__qu8s8_conv_1x16c4__neon(const fpf__qargs *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->c.k;
    int32x4_t acc[16];
    int32_t t[16];
    int j, ky, kx, g;
    for (j = 0; j < 16; j++) acc[j] = vdupq_n_s32(0);
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const uint8_t *src[1] = {NULL};
            const int8_t *w = fpf__qpanel(a, c0, ky, kx);
            fpf__qtap_rows(a, y, x0, np, ky, kx, src, 1);
            for (g = 0; g < k->cin / 4; g++, w += 64) {
                uint32_t x4 = fpf__ld4(src[0] + 4 * g);
                int16x8_t x = vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(x4))));
                for (j = 0; j < 8; j++) {
                    int16x8_t wv = vmovl_s8(vld1_s8(w + 8 * j));
                    acc[2 * j] = vmlal_s16(acc[2 * j], vget_low_s16(wv), vget_low_s16(x));
                    acc[2 * j + 1] = vmlal_s16(acc[2 * j + 1], vget_high_s16(wv), vget_high_s16(x));
                }
            }
        }
    for (j = 0; j < 16; j++) t[j] = vaddvq_s32(acc[j]);
    fpf__qblock_store(a, t, 16, y, x0, np, c0, cb);
}

/* NEON dotprod: sdot is s8·s8, so x is offset to x − 128 (x ^ 0x80) and 128·Σq_w added back:
   Σ x·w = Σ (x − 128)·w + 128·Σ w, all exact. 4 pixels × 16 channels. */
__attribute__((target("arch=armv8.2-a+dotprod")))
static void fpf__qu8s8_conv_4x16c4__neondot(const fpf__qargs *a, int y, int x0, int np, int c0, int cb) {
    const fpf__conv *k = a->c.k;
    int32x4_t acc[4][4];
    int32_t t[4][16];
    int p, j, ky, kx, g;
    for (p = 0; p < 4; p++)
        for (j = 0; j < 4; j++) acc[p][j] = vdupq_n_s32(0);
    for (ky = 0; ky < k->kh; ky++)
        for (kx = 0; kx < k->kw; kx++) {
            const uint8_t *src[4];
            const int8_t *w = fpf__qpanel(a, c0, ky, kx);
            fpf__qtap_rows(a, y, x0, np, ky, kx, src, 4);
            for (g = 0; g < k->cin / 4; g++, w += 64) {
                int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32), w3 = vld1q_s8(w + 48);
                for (p = 0; p < 4; p++) {
                    int8x16_t x = vreinterpretq_s8_u32(vdupq_n_u32(fpf__ld4(src[p] + 4 * g) ^ 0x80808080u));
                    acc[p][0] = vdotq_s32(acc[p][0], w0, x);
                    acc[p][1] = vdotq_s32(acc[p][1], w1, x);
                    acc[p][2] = vdotq_s32(acc[p][2], w2, x);
                    acc[p][3] = vdotq_s32(acc[p][3], w3, x);
                }
            }
        }
    for (p = 0; p < 4; p++)
        for (j = 0; j < 4; j++) vst1q_s32(t[p] + 4 * j, acc[p][j]);
    for (p = 0; p < 4; p++)
        for (j = 0; j < 16; j++) t[p][j] += 128 * a->q->wsum[c0 + j];
    fpf__qblock_store(a, &t[0][0], 16, y, x0, np, c0, cb);
}
#endif /* FPF__NEON */

static const struct fpf__qkernels fpf__qkernels__scalar = {
    FPF__F(isa) FPF_QISA_SCALAR, FPF__F(qu8s8_conv) fpf__qu8s8_conv_4x16c4__scalar, FPF__F(quant) fpf__qquant__scalar,
    FPF__F(px) 4, FPF__F(cb) 16, FPF__F(qu8s8_conv_small) NULL, FPF__F(px_small) 0, FPF__F(tiles_on) NULL, FPF__F(tiles_off) NULL};
#if defined(FPF__X86)
static const struct fpf__qkernels fpf__qkernels__avx2 = {
    FPF__F(isa) FPF_QISA_AVX2, FPF__F(qu8s8_conv) fpf__qu8s8_conv_6x8c4__avx2, FPF__F(quant) fpf__qquant__avx2,
    FPF__F(px) 6, FPF__F(cb) 8, FPF__F(qu8s8_conv_small) NULL, FPF__F(px_small) 0, FPF__F(tiles_on) NULL, FPF__F(tiles_off) NULL};
static const struct fpf__qkernels fpf__qkernels__avxvnni = {
    FPF__F(isa) FPF_QISA_AVXVNNI, FPF__F(qu8s8_conv) fpf__qu8s8_conv_6x16c4__avxvnni, FPF__F(quant) fpf__qquant__avx2,
    FPF__F(px) 6, FPF__F(cb) 16, FPF__F(qu8s8_conv_small) NULL, FPF__F(px_small) 0, FPF__F(tiles_on) NULL, FPF__F(tiles_off) NULL};
static const struct fpf__qkernels fpf__qkernels__avx512vnni = {
    FPF__F(isa) FPF_QISA_AVX512VNNI, FPF__F(qu8s8_conv) fpf__qu8s8_conv_12x32c4__avx512vnni, FPF__F(quant) fpf__qquant__avx512,
    FPF__F(px) FPF__QPX512, FPF__F(cb) 32, FPF__F(qu8s8_conv_small) fpf__qu8s8_conv_8x32c4__avx512vnni, FPF__F(px_small) 8, FPF__F(tiles_on) NULL, FPF__F(tiles_off) NULL};
#endif
#if defined(FPF__AMX)
static const struct fpf__qkernels fpf__qkernels__amx = {
    FPF__F(isa) FPF_QISA_AMX, FPF__F(qu8s8_conv) fpf__qu8s8_conv_32x32c4__amx, FPF__F(quant) fpf__qquant__avx512,
    FPF__F(px) FPF__QPXAMX, FPF__F(cb) 32, FPF__F(qu8s8_conv_small) NULL, FPF__F(px_small) 0,
    FPF__F(tiles_on) fpf__amx_on, FPF__F(tiles_off) fpf__amx_off};
#endif
#if defined(FPF__NEON)
static const struct fpf__qkernels fpf__qkernels__neon = {
    FPF__F(isa) FPF_QISA_NEON, FPF__F(qu8s8_conv) fpf__qu8s8_conv_1x16c4__neon, FPF__F(quant) fpf__qquant__scalar,
    FPF__F(px) 1, FPF__F(cb) 16, FPF__F(qu8s8_conv_small) NULL, FPF__F(px_small) 0, FPF__F(tiles_on) NULL, FPF__F(tiles_off) NULL};
static const struct fpf__qkernels fpf__qkernels__neondot = {
    FPF__F(isa) FPF_QISA_NEONDOT, FPF__F(qu8s8_conv) fpf__qu8s8_conv_4x16c4__neondot, FPF__F(quant) fpf__qquant__scalar,
    FPF__F(px) 4, FPF__F(cb) 16, FPF__F(qu8s8_conv_small) NULL, FPF__F(px_small) 0, FPF__F(tiles_on) NULL, FPF__F(tiles_off) NULL};
#endif

FPF_DEF int fpf_qisa_supported(fpf_qisa isa) {
    switch (isa) {
    case FPF_QISA_SCALAR: return 1;
#if defined(FPF__X86)
    case FPF_QISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FPF_QISA_AVXVNNI: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && fpf__cpu_avxvnni();
    case FPF_QISA_AVX512VNNI: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                     __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(FPF__AMX)
    case FPF_QISA_AMX: return fpf_qisa_supported(FPF_QISA_AVX512VNNI) && fpf__cpu_amx();
#endif
#if defined(FPF__NEON)
    case FPF_QISA_NEON: return 1;
    case FPF_QISA_NEONDOT: return fpf__hwcap_dotprod();
#endif
    default: return 0;
    }
}

FPF_DEF const char *fpf_qisa_name(fpf_qisa isa) {
    static const char *names[] = {"auto", "scalar", "avx2", "avxvnni", "avx512vnni", "neon", "neondot", "amx"};
    return (int)isa >= 0 && (int)isa <= 7 ? names[isa] : "unknown";
}

/* The int8 row for isa; AUTO: the best this CPU runs, or scalar when the fp32 row is forced to
   scalar. NULL when isa cannot run here. */
static const struct fpf__qkernels *fpf__qkernels_for(fpf_qisa isa, fpf_isa fisa) {
    if (isa == FPF_QISA_AUTO) {
        static const fpf_qisa order[] = {FPF_QISA_AMX, FPF_QISA_AVX512VNNI, FPF_QISA_AVXVNNI, FPF_QISA_AVX2, FPF_QISA_NEONDOT, FPF_QISA_NEON};
        size_t i;
        isa = FPF_QISA_SCALAR;
        for (i = 0; i < sizeof order / sizeof order[0] && fisa != FPF_ISA_SCALAR; i++)
            if (fpf_qisa_supported(order[i])) { isa = order[i]; break; }
    }
    if (!fpf_qisa_supported(isa)) return NULL;
    switch (isa) {
#if defined(FPF__X86)
    case FPF_QISA_AVX2: return &fpf__qkernels__avx2;
    case FPF_QISA_AVXVNNI: return &fpf__qkernels__avxvnni;
    case FPF_QISA_AVX512VNNI: return &fpf__qkernels__avx512vnni;
#endif
#if defined(FPF__AMX)
    case FPF_QISA_AMX: return &fpf__qkernels__amx;
#endif
#if defined(FPF__NEON)
    case FPF_QISA_NEON: return &fpf__qkernels__neon;
    case FPF_QISA_NEONDOT: return &fpf__qkernels__neondot;
#endif
    default: return &fpf__qkernels__scalar;
    }
}

/* Input rows [lo, hi) that outputs rows [0, out.h) of a (band of a) conv read, clipped. */
static void fpf__in_rows(const fpf__conv_args *a, int *lo, int *hi) {
    int l = a->y0 * a->stride - a->pad - a->iy0, h = (a->out.h - 1 + a->y0) * a->stride - a->pad + a->k->kh - a->iy0;
    *lo = l < 0 ? 0 : l > a->in.h ? a->in.h : l;
    *hi = h < *lo ? *lo : h > a->in.h ? a->in.h : h;
}

static void fpf__observe(const fpf__runner *r, const fpf__conv_args *a) {
    int lo, hi, i;
    fpf__in_rows(a, &lo, &hi);
    for (i = 0; i < (a->batch > 1 ? a->batch : 1) && hi > lo; i++)
        r->observe(r->observe_user, a->k->layer, a->in.d + (size_t)i * a->in_bs + (size_t)lo * a->in.w * a->in.ld,
                   hi - lo, a->in.w, a->k->cin, a->in.ld);
}

typedef struct fpf__qquant_args {
    const fpf__conv_args *c;
    const fpf__qargs *q;
    uint8_t *dst;
    int lo, rows;
} fpf__qquant_args;

static void fpf__qquant_task(void *ctx, int task) { /* one input row of one image */
    const fpf__qquant_args *a = (const fpf__qquant_args *)ctx;
    const fpf__conv_args *c = a->c;
    int img = task / a->rows, iy = a->lo + task % a->rows, x, cin = c->k->cin;
    const float *src = c->in.d + (size_t)img * c->in_bs + (size_t)iy * c->in.w * c->in.ld;
    uint8_t *dst = a->dst + (size_t)img * a->q->img + (size_t)iy * c->in.w * cin;
    if (c->in.ld == cin) { a->q->kern->quant(src, c->in.w * cin, a->q->q->in_scale, a->q->q->in_zero, dst); return; }
    for (x = 0; x < c->in.w; x++)
        a->q->kern->quant(src + (size_t)x * c->in.ld, cin, a->q->q->in_scale, a->q->q->in_zero, dst + (size_t)x * cin);
}

/* Pixels of the next block of a row with n pixels left: blocks of px, and where a row has a
   small kernel (px_small), the split of the tail that computes the fewest padded pixels, e.g.
   14 = 8 + 6 rather than 12 + 2 (the mask head's 14-pixel rows), 32 = 12 + 8 + 12. */
static int fpf__qblock_px(const struct fpf__qkernels *K, int n) {
    int big = K->px, small = K->px_small;
    if (!small || n > big + small || (n > small && n <= big)) return n < big ? n : big;
    return n < small ? n : small;
}

/* Tasks as fpf__conv_task: (rows, 96-pixel tile, channel group), each output value by one task.
   96 pixels: a whole number of every int8 row's pixel blocks (1, 4, 6, 8, 12, 32). */
#define FPF__QTILE_W 96

/* Output rows [y0, y1) × columns [xs, xe) × channel blocks [b0, b1) of an int8 layer, block by
   block (fpf__conv_tile for an int8 layer). A row with tiles (AMX) has its palette loaded around
   the calls and runs the channel blocks innermost, so that a pixel block's inputs stay in L1. */
static void fpf__qconv_tile(const fpf__qargs *a, int y0, int y1, int xs, int xe, int b0, int b1) {
    const struct fpf__qkernels *K = a->kern;
    int y, x, blk, np;
    if (K->tiles_on) {
        K->tiles_on();
        for (y = y0; y < y1; y++)
            for (x = xs; x < xe; x += np) {
                np = fpf__qblock_px(K, xe - x);
                for (blk = b0; blk < b1; blk++) {
                    int c0 = blk * K->cb, cb = a->c.k->cout - c0 < K->cb ? a->c.k->cout - c0 : K->cb;
                    (np > K->px_small ? K->qu8s8_conv : K->qu8s8_conv_small)(a, y, x, np, c0, cb);
                }
            }
        K->tiles_off();
        return;
    }
    for (blk = b0; blk < b1; blk++) {
        int c0 = blk * K->cb, cb = a->c.k->cout - c0 < K->cb ? a->c.k->cout - c0 : K->cb;
        for (y = y0; y < y1; y++)
            for (x = xs; x < xe; x += np) {
                np = fpf__qblock_px(K, xe - x);
                (np > K->px_small ? K->qu8s8_conv : K->qu8s8_conv_small)(a, y, x, np, c0, cb);
            }
    }
}

static void fpf__qconv_task(void *ctx, int task) {
    const fpf__qargs *a = (const fpf__qargs *)ctx;
    const struct fpf__qkernels *K = a->kern;
    const fpf__conv_args *c = &a->c;
    int tiles = (c->out.w + FPF__QTILE_W - 1) / FPF__QTILE_W, nblk = (c->k->cout + K->cb - 1) / K->cb;
    int chunks = (c->out.h + c->rpt - 1) / c->rpt;
    int g = task % c->groups, rest = task / c->groups, y0, y1, xs, xe;
    fpf__qargs one;
    if (c->batch > 1) {
        int img = rest / (chunks * tiles);
        one = *a;
        one.x += (size_t)img * a->img; one.c.out.d += (size_t)img * c->out_bs;
        if (one.c.qout) one.c.qout += (size_t)img * c->out.h * c->out.w * c->k->cout;
        rest %= chunks * tiles;
        a = &one; c = &one.c;
    }
    y0 = rest / tiles * c->rpt; y1 = y0 + c->rpt < c->out.h ? y0 + c->rpt : c->out.h;
    xs = (rest % tiles) * FPF__QTILE_W; xe = xs + FPF__QTILE_W < c->out.w ? xs + FPF__QTILE_W : c->out.w;
    fpf__qconv_tile(a, y0, y1, xs, xe, g * nblk / c->groups, (g + 1) * nblk / c->groups);
}

static void fpf__qflat_task(void *ctx, int task) { /* fpf__flat_task for an int8 layer */
    const fpf__qargs *a = (const fpf__qargs *)ctx;
    const struct fpf__qkernels *K = a->kern;
    const fpf__conv_args *c = &a->c;
    int l0, l1, b0, b1, L, blk;
    fpf__flat_range(c, K->cb, task, &l0, &l1, &b0, &b1);
    if (K->tiles_on) { /* AMX: as fpf__qconv_tile, the channel blocks innermost */
        K->tiles_on();
        for (L = l0; L < l1; L += K->px)
            for (blk = b0; blk < b1; blk++) {
                int c0 = blk * K->cb, cb = c->k->cout - c0 < K->cb ? c->k->cout - c0 : K->cb;
                K->qu8s8_conv(a, 0, L, l1 - L < K->px ? l1 - L : K->px, c0, cb);
            }
        K->tiles_off();
        return;
    }
    for (blk = b0; blk < b1; blk++) {
        int c0 = blk * K->cb, cb = c->k->cout - c0 < K->cb ? c->k->cout - c0 : K->cb;
        for (L = l0; L < l1; L += K->px) K->qu8s8_conv(a, 0, L, l1 - L < K->px ? l1 - L : K->px, c0, cb);
    }
}

/* The int8 call's set-up: fills qa and quantizes the input rows the outputs read into the
   runner's qbuf (unless a0->qin holds them). 0: no buffer fits (tests), the twin must run. */
static int fpf__qprep(const fpf__runner *r, const fpf__conv_args *a0, fpf__qargs *qa) {
    fpf__qquant_args qq;
    int lo, hi, nimg = a0->batch > 1 ? a0->batch : 1, cin = a0->k->cin;
    memset(qa, 0, sizeof *qa);
    qa->c = *a0;
    qa->q = a0->k->q;
    qa->kern = r && r->qkern ? r->qkern : &fpf__qkernels__scalar;
    qa->img = (size_t)a0->in.h * a0->in.w * cin;
    if (!r || !r->qbuf || (!a0->qin && qa->img * (size_t)nimg > r->qcap) || (a0->pad > 0 && cin > FPF__ZEROS)) return 0;
    memset(r->qbuf, qa->q->in_zero, (size_t)(cin < FPF__ZEROS ? cin : FPF__ZEROS));
    qa->zrow = r->qbuf;
    qa->x = a0->qin ? a0->qin : r->qbuf + FPF__ZEROS;
    fpf__in_rows(a0, &lo, &hi);
    qq.c = a0; qq.q = qa; qq.dst = r->qbuf + FPF__ZEROS; qq.lo = lo; qq.rows = hi - lo;
    if (!a0->qin) fpf__parallel(r, fpf__qquant_task, &qq, nimg * (hi - lo)); /* else its producer made it */
    return 1;
}

static void fpf__qconv2d(const fpf__runner *r, const fpf__conv_args *a0) {
    fpf__qargs qa;
    int nimg = a0->batch > 1 ? a0->batch : 1, tiles, units, nblk;
    if (!fpf__qprep(r, a0, &qa)) { /* no buffer (tests): the twin */
        int i;
        for (i = 0; i < nimg; i++) {
            fpf__conv_args one = *a0;
            one.in.d += (size_t)i * a0->in_bs; one.out.d += (size_t)i * a0->out_bs;
            if (one.qin) one.qin += (size_t)i * qa.img;
            if (one.qout) one.qout += (size_t)i * a0->out.h * a0->out.w * a0->k->cout;
            fpf__qu8s8_conv__ref(&one);
        }
        return;
    }
    if (a0->flat) { fpf__parallel(r, fpf__qflat_task, &qa, fpf__flat_split(&qa.c, qa.kern->px, (a0->k->cout + qa.kern->cb - 1) / qa.kern->cb)); return; }
    tiles = (a0->out.w + FPF__QTILE_W - 1) / FPF__QTILE_W;
    qa.c.rpt = fpf__rows_per_task(a0->out.h, a0->out.w);
    units = ((a0->out.h + qa.c.rpt - 1) / qa.c.rpt) * tiles * nimg;
    nblk = (a0->k->cout + qa.kern->cb - 1) / qa.kern->cb;
    qa.c.groups = units >= 32 ? 1 : (32 / units < nblk ? 32 / units : nblk);
    fpf__parallel(r, fpf__qconv_task, &qa, units * qa.c.groups);
}

/* Max-pool 3×3, stride 2, TF "same": out[i] covers input rows {2i, 2i+1, 2i+2} that exist —
   the one pad row/column of SAME goes at the bottom/right only (§2.2), unlike PyTorch's padding=1.
   One task per output row. */
typedef struct fpf__maxpool_args { fpf__map in, out; } fpf__maxpool_args;

static void fpf__maxpool_row(void *ctx, int y) {
    const fpf__maxpool_args *a = (const fpf__maxpool_args *)ctx;
    int x, c, dy, dx;
    for (x = 0; x < a->out.w; x++) {
        float *o = a->out.d + ((size_t)y * a->out.w + x) * a->out.ld;
        for (c = 0; c < a->in.c; c++) o[c] = -FLT_MAX;
        for (dy = 0; dy < 3; dy++)
            for (dx = 0; dx < 3; dx++) {
                int iy = 2 * y + dy, ix = 2 * x + dx;
                const float *s;
                if (iy >= a->in.h || ix >= a->in.w) continue;
                s = a->in.d + ((size_t)iy * a->in.w + ix) * a->in.ld;
                for (c = 0; c < a->in.c; c++) o[c] = s[c] > o[c] ? s[c] : o[c];
            }
    }
}

FPF__REF_TWIN void fpf__maxpool3s2(const fpf__runner *r, fpf__map in, fpf__map out) {
    fpf__maxpool_args a;
    a.in = in; a.out = out;
    fpf__parallel(r, fpf__maxpool_row, &a, out.h);
}

/* ---------------------------------------------------------------------------------------------
   The stem kernels (§2.1): conv1 (7×7, stride 2, cin = 1 or 2) + bias + ReLU, straight from the
   image. Its 1 or 2 input channels are too few for the conv kernels' inner loop (they ran it as
   a 1×1 conv over an im2col copy of 49·cin channels, and both maps went through DRAM); here, for
   each tap (ky, kx, ci), a block loads the weight vectors of its output channels once and
   broadcasts each of its px conv1 pixels' input value into them, so the 49·cin multiply-adds per
   pixel are all the work. Every lane sums in the order (ky, kx, ci), as the conv twins do: the
   same bits as fpf__f32_conv__ref(_fused) with FPF__RELU, and as the im2col path gave.
   A block kernel makes np <= px conv1 pixels x0 .. x0+np−1 of one row, all cout channels (64-
   channel blocks, then 16-channel panels; a part panel is stored through the scalar epilogue).
   in points at input (2y − 3, 2x0 − 3) of a window whose rows are ldr floats apart and pixels
   cin floats apart, and which holds every tap of all px pixels: at the image borders the caller
   stages a zero-padded copy. A zero tap changes nothing: the sum starts at +0, a round-to-nearest
   sum is −0 only when both addends are, so the sum is never −0, and adding the ±0 of a zero input
   times a finite weight (checked at load) leaves it as it was; the twin skips such taps.
   dst: pixel p's channels at dst + p·cout. */
typedef void (*fpf__f32_stem_fn)(const fpf__conv *k, const float *in, int ldr, int np, float *dst);
/* The 3×3/2 max-pool of one C1 row from conv1 rows r[0..2] (NULL: past the map), w2 pixels of c
   channels each, into w1 pixels at out; fpf__maxpool_row's order and its s > o ? s : o. */
typedef void (*fpf__stem_pool_fn)(const float *const *r, int w2, int c, float *out, int w1);
typedef struct fpf__stem_kernels { fpf__f32_stem_fn conv; fpf__stem_pool_fn pool; int px; } fpf__stem_kernels;

#define FPF__STEM_CIN 2   /* most input channels (fpf_config_check: 1, or 2 with a nucleus channel) */
#define FPF__STEM_PXMAX 8 /* most pixels per block of any row (the staging window's size) */
#define FPF__STEM_ROWS 8  /* C1 rows per stem task: 2·8 + 1 conv1 rows, 1 of 17 made twice */
#define FPF__STEM_BAND 64 /* C1 rows per band of the stem: 8 tasks */

/* The stem's twin: conv1 by the conv twin (fused as the row's kernel is) into c1 ((h+1)/2 ×
   (w+1)/2 × cout), then the max-pool twin into out. */
FPF__REF_TWIN void fpf__f32_stem__ref(const fpf__conv *k, fpf__map in, float *c1, fpf__map out, int fused) {
    fpf__conv_args a;
    memset(&a, 0, sizeof a);
    a.k = k; a.in = in; a.out = fpf__mk(c1, (in.h + 1) / 2, (in.w + 1) / 2, k->cout);
    a.stride = 2; a.pad = 3; a.flags = FPF__RELU;
    fpf__f32_conv__ref_impl(&a, fused);
    fpf__maxpool3s2(NULL, a.out, out);
}

/* Bias and ReLU of channels co .. co+n−1 of one pixel, as fpf__epilogue does them. */
static void fpf__f32_stem_store(const fpf__conv *k, const float *acc, int co, int n, float *dst) {
    int j;
    for (j = 0; j < n; j++) {
        float v = acc[j] + k->b[co + j];
        dst[co + j] = v < 0.0f ? 0.0f : v;
    }
}

/* Portable: 4 pixels × 16 channels, separate multiply and add (fpf__f32_conv__ref's rounding). */
static void fpf__f32_stem_4x16__scalar(const fpf__conv *k, const float *in, int ldr, int np, float *dst) {
    int cin = k->cin, c0, p, j, ky, kx, ci;
    for (c0 = 0; c0 < k->cout; c0 += 16) {
        const float *w = k->wp + (size_t)(c0 / 16) * k->pstride;
        float acc[4][16];
        memset(acc, 0, sizeof acc);
        for (ky = 0; ky < 7; ky++)
            for (kx = 0; kx < 7; kx++)
                for (ci = 0; ci < cin; ci++, w += 16) {
                    const float *x = in + (size_t)ky * ldr + kx * cin + ci;
                    float a0 = x[0], a1 = x[2 * cin], a2 = x[4 * cin], a3 = x[6 * cin];
                    for (j = 0; j < 16; j++) {
                        acc[0][j] += a0 * w[j]; acc[1][j] += a1 * w[j];
                        acc[2][j] += a2 * w[j]; acc[3][j] += a3 * w[j];
                    }
                }
        for (p = 0; p < np; p++) fpf__f32_stem_store(k, acc[p], c0, k->cout - c0 < 16 ? k->cout - c0 : 16, dst + (size_t)p * k->cout);
    }
}

/* Channel ch of pooled column x: the max over the window's taps present (rows r[dy] not NULL, columns
   2x + dx < w2), in fpf__maxpool_row's order and with its s > o ? s : o. The scalar row, and the
   channel tails of the SIMD rows. */
static float fpf__stem_pool_at(const float *const *r, int w2, int c, int x, int ch) {
    float o = -FLT_MAX;
    int dy, dx;
    for (dy = 0; dy < 3 && r[dy]; dy++)
        for (dx = 0; dx < 3 && 2 * x + dx < w2; dx++) {
            float s = r[dy][(size_t)(2 * x + dx) * c + ch];
            o = s > o ? s : o;
        }
    return o;
}

static void fpf__stem_pool__scalar(const float *const *r, int w2, int c, float *out, int w1) {
    int x, ch;
    for (x = 0; x < w1; x++, out += c)
        for (ch = 0; ch < c; ch++) out[ch] = fpf__stem_pool_at(r, w2, c, x, ch);
}

#if defined(FPF__X86)
/* AVX2: 6 pixels × 16 channels (12 ymm accumulators). */
FPF__AVX2 FPF__INLINE void fpf__f32_stem_6x16__avx2_body(const fpf__conv *k, const float *in, int ldr, int cin, int np,
                                                        int c0, float *dst) {
    const float *w = k->wp + (size_t)(c0 / 16) * k->pstride;
    __m256 acc[6][2];
    float t[6][16];
    int p, ky, kx, ci;
    FPF__UNROLL for (p = 0; p < 6; p++) acc[p][0] = acc[p][1] = _mm256_setzero_ps();
    for (ky = 0; ky < 7; ky++)
        for (kx = 0; kx < 7; kx++)
            for (ci = 0; ci < cin; ci++, w += 16) {
                const float *x = in + (size_t)ky * ldr + kx * cin + ci;
                __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
                FPF__UNROLL for (p = 0; p < 6; p++) {
                    __m256 v = _mm256_broadcast_ss(x + 2 * p * cin);
                    acc[p][0] = _mm256_fmadd_ps(v, w0, acc[p][0]);
                    acc[p][1] = _mm256_fmadd_ps(v, w1, acc[p][1]);
                }
            }
    FPF__UNROLL for (p = 0; p < 6; p++) { _mm256_storeu_ps(t[p], acc[p][0]); _mm256_storeu_ps(t[p] + 8, acc[p][1]); }
    for (p = 0; p < np; p++) {
        float *d = dst + (size_t)p * k->cout;
        if (c0 + 16 > k->cout) { fpf__f32_stem_store(k, t[p], c0, k->cout - c0, d); continue; }
        _mm256_storeu_ps(d + c0, _mm256_max_ps(_mm256_setzero_ps(), _mm256_add_ps(_mm256_loadu_ps(t[p]), _mm256_loadu_ps(k->b + c0))));
        _mm256_storeu_ps(d + c0 + 8, _mm256_max_ps(_mm256_setzero_ps(), _mm256_add_ps(_mm256_loadu_ps(t[p] + 8), _mm256_loadu_ps(k->b + c0 + 8))));
    }
}

FPF__AVX2 static void fpf__f32_stem_6x16__avx2(const fpf__conv *k, const float *in, int ldr, int np, float *dst) {
    int c0;
    for (c0 = 0; c0 < k->cout; c0 += 16) {
        if (k->cin == 1) fpf__f32_stem_6x16__avx2_body(k, in, ldr, 1, np, c0, dst);  /* constant cin: */
        else if (k->cin == 2) fpf__f32_stem_6x16__avx2_body(k, in, ldr, 2, np, c0, dst); /* immediate offsets */
        else fpf__f32_stem_6x16__avx2_body(k, in, ldr, k->cin, np, c0, dst);
    }
}

FPF__AVX2 static void fpf__stem_pool__avx2(const float *const *r, int w2, int c, float *out, int w1) {
    int x, ch, dy, dx;
    for (x = 0; x < w1; x++, out += c) {
        for (ch = 0; ch + 8 <= c; ch += 8) {
            __m256 o = _mm256_set1_ps(-FLT_MAX);
            for (dy = 0; dy < 3 && r[dy]; dy++)
                for (dx = 0; dx < 3 && 2 * x + dx < w2; dx++) o = _mm256_max_ps(_mm256_loadu_ps(r[dy] + (size_t)(2 * x + dx) * c + ch), o);
            _mm256_storeu_ps(out + ch, o); /* max(s, o) = s > o ? s : o */
        }
        for (; ch < c; ch++) out[ch] = fpf__stem_pool_at(r, w2, c, x, ch);
    }
}

/* AVX-512: 6 pixels × 64 channels (24 zmm accumulators), then 6 × 16 for the panels past the last
   64-channel block (nv = 4 or 1 vectors, a constant in each inlined copy). */
FPF__AVX512 FPF__INLINE void fpf__f32_stem_6x64__avx512_body(const fpf__conv *k, const float *in, int ldr, int np,
                                                            int c0, int nv, float *dst) {
    const float *w = k->wp + (size_t)(c0 / 16) * k->pstride;
    size_t ps = k->pstride;
    __m512 acc[6][4];
    float t[6][64];
    int cin = k->cin, p, v, ky, kx, ci;
    FPF__UNROLL for (p = 0; p < 6; p++) acc[p][0] = acc[p][1] = acc[p][2] = acc[p][3] = _mm512_setzero_ps();
    for (ky = 0; ky < 7; ky++)
        for (kx = 0; kx < 7; kx++)
            for (ci = 0; ci < cin; ci++, w += 16) {
                const float *x = in + (size_t)ky * ldr + kx * cin + ci;
                if (nv == 4) {
                    __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + ps);
                    __m512 w2 = _mm512_loadu_ps(w + 2 * ps), w3 = _mm512_loadu_ps(w + 3 * ps);
                    FPF__UNROLL for (p = 0; p < 6; p++) {
                        __m512 b = _mm512_set1_ps(x[2 * p * cin]);
                        acc[p][0] = _mm512_fmadd_ps(b, w0, acc[p][0]);
                        acc[p][1] = _mm512_fmadd_ps(b, w1, acc[p][1]);
                        acc[p][2] = _mm512_fmadd_ps(b, w2, acc[p][2]);
                        acc[p][3] = _mm512_fmadd_ps(b, w3, acc[p][3]);
                    }
                } else {
                    __m512 w0 = _mm512_loadu_ps(w);
                    FPF__UNROLL for (p = 0; p < 6; p++) acc[p][0] = _mm512_fmadd_ps(_mm512_set1_ps(x[2 * p * cin]), w0, acc[p][0]);
                }
            }
    if (np == 6 && c0 + 16 * nv <= k->cout) { /* a whole block: straight from the registers */
        FPF__UNROLL for (v = 0; v < nv; v++) {
            __m512 b = _mm512_loadu_ps(k->b + c0 + 16 * v);
            FPF__UNROLL for (p = 0; p < 6; p++)
                _mm512_storeu_ps(dst + (size_t)p * k->cout + c0 + 16 * v, _mm512_max_ps(_mm512_setzero_ps(), _mm512_add_ps(acc[p][v], b)));
        }
        return;
    }
    FPF__UNROLL for (p = 0; p < 6; p++)
        FPF__UNROLL for (v = 0; v < 4; v++) _mm512_storeu_ps(t[p] + 16 * v, acc[p][v]);
    for (p = 0; p < np; p++)
        for (v = 0; v < nv; v++) {
            int co = c0 + 16 * v;
            fpf__f32_stem_store(k, t[p] + 16 * v, co, k->cout - co < 16 ? k->cout - co : 16, dst + (size_t)p * k->cout);
        }
}

FPF__AVX512 static void fpf__f32_stem_6x64__avx512(const fpf__conv *k, const float *in, int ldr, int np, float *dst) {
    int c0, panels = (k->cout + 15) / 16;
    for (c0 = 0; c0 < k->cout; c0 += 16) {
        if (panels - c0 / 16 >= 4) { fpf__f32_stem_6x64__avx512_body(k, in, ldr, np, c0, 4, dst); c0 += 48; }
        else fpf__f32_stem_6x64__avx512_body(k, in, ldr, np, c0, 1, dst);
    }
}

FPF__AVX512 static void fpf__stem_pool__avx512(const float *const *r, int w2, int c, float *out, int w1) {
    int x, ch, dy, dx;
    for (x = 0; x < w1; x++, out += c) {
        if (r[2] && 2 * x + 2 < w2) /* all nine taps: unmasked, unrolled */
            for (ch = 0; ch + 16 <= c; ch += 16) {
                __m512 o = _mm512_set1_ps(-FLT_MAX);
                FPF__UNROLL for (dy = 0; dy < 3; dy++)
                    FPF__UNROLL for (dx = 0; dx < 3; dx++) o = _mm512_max_ps(_mm512_loadu_ps(r[dy] + (size_t)(2 * x + dx) * c + ch), o);
                _mm512_storeu_ps(out + ch, o);
            }
        else ch = 0;
        for (; ch < c; ch += 16) {
            __mmask16 m = (__mmask16)(c - ch >= 16 ? 0xFFFF : (1u << (c - ch)) - 1);
            __m512 o = _mm512_set1_ps(-FLT_MAX);
            for (dy = 0; dy < 3 && r[dy]; dy++)
                for (dx = 0; dx < 3 && 2 * x + dx < w2; dx++)
                    o = _mm512_max_ps(_mm512_maskz_loadu_ps(m, r[dy] + (size_t)(2 * x + dx) * c + ch), o);
            _mm512_mask_storeu_ps(out + ch, m, o); /* max(s, o) = s > o ? s : o */
        }
    }
}
#endif /* FPF__X86 */

#if defined(FPF__NEON)
/* NEON: 6 pixels × 16 channels (24 q accumulators). */
FPF__INLINE void fpf__f32_stem_6x16__neon_body(const fpf__conv *k, const float *in, int ldr, int cin, int np, int c0, float *dst) {
    const float *w = k->wp + (size_t)(c0 / 16) * k->pstride;
    float32x4_t acc[6][4];
    float t[6][16];
    int p, j, ky, kx, ci;
    FPF__UNROLL for (p = 0; p < 6; p++)
        FPF__UNROLL for (j = 0; j < 4; j++) acc[p][j] = vdupq_n_f32(0.0f);
    for (ky = 0; ky < 7; ky++)
        for (kx = 0; kx < 7; kx++)
            for (ci = 0; ci < cin; ci++, w += 16) {
                const float *x = in + (size_t)ky * ldr + kx * cin + ci;
                float32x4_t w0 = vld1q_f32(w), w1 = vld1q_f32(w + 4), w2 = vld1q_f32(w + 8), w3 = vld1q_f32(w + 12);
                FPF__UNROLL for (p = 0; p < 6; p++) {
                    float32x4_t b = vdupq_n_f32(x[2 * p * cin]);
                    acc[p][0] = vfmaq_f32(acc[p][0], b, w0);
                    acc[p][1] = vfmaq_f32(acc[p][1], b, w1);
                    acc[p][2] = vfmaq_f32(acc[p][2], b, w2);
                    acc[p][3] = vfmaq_f32(acc[p][3], b, w3);
                }
            }
    FPF__UNROLL for (p = 0; p < 6; p++)
        FPF__UNROLL for (j = 0; j < 4; j++) vst1q_f32(t[p] + 4 * j, acc[p][j]);
    for (p = 0; p < np; p++) fpf__f32_stem_store(k, t[p], c0, k->cout - c0 < 16 ? k->cout - c0 : 16, dst + (size_t)p * k->cout);
}

static void fpf__f32_stem_6x16__neon(const fpf__conv *k, const float *in, int ldr, int np, float *dst) {
    int c0;
    for (c0 = 0; c0 < k->cout; c0 += 16) {
        if (k->cin == 1) fpf__f32_stem_6x16__neon_body(k, in, ldr, 1, np, c0, dst);
        else if (k->cin == 2) fpf__f32_stem_6x16__neon_body(k, in, ldr, 2, np, c0, dst);
        else fpf__f32_stem_6x16__neon_body(k, in, ldr, k->cin, np, c0, dst);
    }
}

static void fpf__stem_pool__neon(const float *const *r, int w2, int c, float *out, int w1) {
    int x, ch, dy, dx;
    for (x = 0; x < w1; x++, out += c) {
        for (ch = 0; ch + 4 <= c; ch += 4) {
            float32x4_t o = vdupq_n_f32(-FLT_MAX);
            for (dy = 0; dy < 3 && r[dy]; dy++)
                for (dx = 0; dx < 3 && 2 * x + dx < w2; dx++) {
                    float32x4_t s = vld1q_f32(r[dy] + (size_t)(2 * x + dx) * c + ch);
                    o = vbslq_f32(vcgtq_f32(s, o), s, o);
                }
            vst1q_f32(out + ch, o);
        }
        for (; ch < c; ch++) out[ch] = fpf__stem_pool_at(r, w2, c, x, ch);
    }
}
#endif /* FPF__NEON */

/* The stem row for the session's conv kernel row (its fusion: scalar separate, the others fused). */
static const fpf__stem_kernels *fpf__stem_kernels_for(const fpf__kernels *K) {
    static const fpf__stem_kernels scalar = {fpf__f32_stem_4x16__scalar, fpf__stem_pool__scalar, 4};
    (void)K; /* FPF_NO_SIMD: only the scalar row */
#if defined(FPF__X86)
    static const fpf__stem_kernels avx2 = {fpf__f32_stem_6x16__avx2, fpf__stem_pool__avx2, 6};
    static const fpf__stem_kernels avx512 = {fpf__f32_stem_6x64__avx512, fpf__stem_pool__avx512, 6};
    if (K && K->isa == FPF_ISA_AVX512) return &avx512;
    if (K && K->isa == FPF_ISA_AVX2) return &avx2;
#endif
#if defined(FPF__NEON)
    static const fpf__stem_kernels neon = {fpf__f32_stem_6x16__neon, fpf__stem_pool__neon, 6};
    if (K && K->isa == FPF_ISA_NEON) return &neon;
#endif
    return &scalar;
}

/* The stem per band of C1 rows [y0, y1): tasks of FPF__STEM_ROWS C1 rows, each making its conv1
   rows 2·Y .. 2·Y + 2 into a ring of 3 rows of its own (ring + task·3·w2·cout; they stay in cache)
   and pooling them into C1 row Y. A conv1 row shared by two tasks is made by both, the same way. */
typedef struct fpf__stem_args {
    const fpf__conv *k;
    const fpf__stem_kernels *K;
    fpf__map in, out;   /* the image [h][w][cin] (ld = cin), C1 (ld = cout) */
    int y0, y1, h2, w2; /* C1 rows of the band; conv1's size ((h + 1)/2, (w + 1)/2) */
    float *ring;
    uint8_t *q8;        /* or NULL: C1 as u8 too, [h1][w1][cout], by fpf__qmap's kernel and (s, z) */
    const fpf__qconv *q;
    const struct fpf__qkernels *QK;
} fpf__stem_args;

static void fpf__stem_conv_row(const fpf__stem_args *a, int y, float *dst) {
    const fpf__conv *k = a->k;
    int cin = k->cin, px = a->K->px, iy = 2 * y - 3, x0, ky, j;
    int rows_in = iy >= 0 && iy + 6 < a->in.h, wl = (2 * px + 5) * cin;   /* wl: a window row's floats */
    for (x0 = 0; x0 < a->w2; x0 += px) {
        int np = a->w2 - x0 < px ? a->w2 - x0 : px, ix = 2 * x0 - 3;
        float win[7 * (2 * FPF__STEM_PXMAX + 5) * FPF__STEM_CIN];
        if (rows_in && ix >= 0 && ix + 2 * px + 4 < a->in.w) { /* every tap of the px pixels inside */
            a->K->conv(k, a->in.d + ((size_t)iy * a->in.w + ix) * cin, a->in.w * cin, np, dst + (size_t)x0 * k->cout);
            continue;
        }
        for (ky = 0; ky < 7; ky++)                              /* a border block: a zero-padded copy */
            for (j = 0; j < wl; j++) {
                int yy = iy + ky, xx = ix + j / cin;
                win[ky * wl + j] = yy >= 0 && yy < a->in.h && xx >= 0 && xx < a->in.w
                                       ? a->in.d[((size_t)yy * a->in.w + xx) * cin + j % cin] : 0.0f;
            }
        a->K->conv(k, win, wl, np, dst + (size_t)x0 * k->cout);
    }
}

static void fpf__stem_task(void *ctx, int task) {
    const fpf__stem_args *a = (const fpf__stem_args *)ctx;
    size_t row = (size_t)a->w2 * a->k->cout;
    float *ring = a->ring + (size_t)task * 3 * row;
    int Y0 = a->y0 + task * FPF__STEM_ROWS, Y1 = Y0 + FPF__STEM_ROWS < a->y1 ? Y0 + FPF__STEM_ROWS : a->y1;
    int Y, dy, made = -1;
    for (Y = Y0; Y < Y1; Y++) {
        const float *r[3];
        for (dy = 0; dy < 3; dy++) {                            /* conv1 rows 2Y .. 2Y+2, in ring[y % 3] */
            int y = 2 * Y + dy;
            r[dy] = y < a->h2 ? ring + (size_t)(y % 3) * row : NULL;
            if (y < a->h2 && y > made) { fpf__stem_conv_row(a, y, ring + (size_t)(y % 3) * row); made = y; }
        }
        a->K->pool(r, a->w2, a->k->cout, a->out.d + (size_t)Y * a->out.w * a->k->cout, a->out.w);
        if (a->q8) /* while the row is in cache */
            a->QK->quant(a->out.d + (size_t)Y * a->out.w * a->k->cout, a->out.w * a->k->cout, a->q->in_scale, a->q->in_zero,
                         a->q8 + (size_t)Y * a->out.w * a->k->cout);
    }
}

/* Floats of ring a band of n C1 rows needs. */
static size_t fpf__stem_ring_floats(int n, int w2, int cout) {
    return (size_t)((n + FPF__STEM_ROWS - 1) / FPF__STEM_ROWS) * 3 * (size_t)w2 * cout;
}

/* conv1 + BN + ReLU + max-pool into C1 rows [y0, y1) (k: conv1, packed; cin <= FPF__STEM_CIN), and
   when q8, those rows as u8 at q8 too, quantized with q's (s_x, z_x) as fpf__qmap would. */
static void fpf__stem_band(const fpf__runner *r, const fpf__conv *k, fpf__map in, fpf__map C1, int y0, int y1, float *ring,
                           uint8_t *q8, const fpf__qconv *q) {
    fpf__stem_args a;
    FPF_ASSERT(k->wp && k->kh == 7 && k->kw == 7 && k->cin >= 1 && k->cin <= FPF__STEM_CIN && in.ld == in.c &&
               in.c == k->cin && C1.ld == C1.c && C1.c == k->cout);
    a.k = k; a.K = fpf__stem_kernels_for(r ? r->kern : NULL);
    a.in = in; a.out = C1; a.y0 = y0; a.y1 = y1; a.h2 = (in.h + 1) / 2; a.w2 = (in.w + 1) / 2; a.ring = ring;
    a.q8 = q ? q8 : NULL; a.q = q; a.QK = r && r->qkern ? r->qkern : &fpf__qkernels__scalar;
    fpf__parallel(r, fpf__stem_task, &a, (y1 - y0 + FPF__STEM_ROWS - 1) / FPF__STEM_ROWS);
}

/* Conv2DTranspose 2×2 stride 2 "valid" (§10.1): out[2i+a][2j+b][o] = bias[o] + Σ_c in[i][j][c]·K[a][b][c][o],
   then ReLU. No kernel flip, no overlap: four 1×1 convs into tmp, then interleaved into out. */
FPF__REF_TWIN void fpf__deconv2x2__ref(const fpf__conv *k, fpf__map in, fpf__map out) {
    int i, j, a, b, o, c;
    for (i = 0; i < in.h; i++)
        for (j = 0; j < in.w; j++)
            for (a = 0; a < 2; a++)
                for (b = 0; b < 2; b++)
                    for (o = 0; o < k->cout; o++) {
                        float acc = 0.0f, v;
                        for (c = 0; c < k->cin; c++)
                            acc += in.d[((size_t)i * in.w + j) * in.ld + c] *
                                   k->w[(((size_t)a * 2 + b) * k->cin + c) * k->cout + o];
                        v = acc + k->b[o];
                        out.d[((size_t)(2 * i + a) * out.w + 2 * j + b) * out.ld + o] = v > 0.0f ? v : 0.0f;
                    }
}

/* The mask head's last conv, mrcnn_mask (1×1, 256 -> K = 2 channels), as a "narrow" kernel that
   runs its lanes over input channels, not output channels (a 16-channel block would hold 2 useful
   lanes): each output value sums its cin products in 16 lanes, lane l taking the channels
   ci ≡ l (mod 16) in order, then adds the lanes pairwise (l + 8, then + 4, + 2, + 1), then the bias.
   wT holds the weights transposed, [K][cin]. x: n pixels, ldx floats apart; out: [n][K].
   fused = 1 rounds each multiply-add once (fmaf), as the SIMD rows do. The SIMD rows need
   cin % 16 == 0; otherwise every row runs this twin (with its own fusion), which gives the same bits. */
FPF__REF_TWIN void fpf__f32_narrow__ref(const float *x, int n, int ldx, int cin, const float *wT, int K,
                                        const float *b, float *out, int fused) {
    int p, k, ci, l, h;
    for (p = 0; p < n; p++)
        for (k = 0; k < K; k++) {
            float s[16];
            const float *xp = x + (size_t)p * ldx, *w = wT + (size_t)k * cin;
            for (l = 0; l < 16; l++) s[l] = 0.0f;
            for (ci = 0; ci < cin; ci++) s[ci % 16] = fused ? fmaf(xp[ci], w[ci], s[ci % 16]) : s[ci % 16] + xp[ci] * w[ci];
            for (h = 8; h >= 1; h /= 2)
                for (l = 0; l < h; l++) s[l] = s[l] + s[l + h];
            out[(size_t)p * K + k] = s[0] + b[k];
        }
}
typedef void (*fpf__f32_narrow_fn)(const float *x, int n, int ldx, int cin, const float *wT, int K, const float *b, float *out);
static void fpf__f32_narrow_1xKc16__scalar(const float *x, int n, int ldx, int cin, const float *wT, int K, const float *b, float *out) {
    fpf__f32_narrow__ref(x, n, ldx, cin, wT, K, b, out, 0);
}
#if defined(FPF__X86)
FPF__AVX512 static void fpf__f32_narrow_1xKc16__avx512(const float *x, int n, int ldx, int cin, const float *wT, int K,
                                                       const float *b, float *out) {
    int p, k, ci;
    for (p = 0; p < n; p++)
        for (k = 0; k < K; k++) {
            const float *xp = x + (size_t)p * ldx, *w = wT + (size_t)k * cin;
            __m512 s = _mm512_setzero_ps();
            __m256 h;
            __m128 q;
            for (ci = 0; ci < cin; ci += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(xp + ci), _mm512_loadu_ps(w + ci), s);
            h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
            q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)); /* l + 8, then l + 4 */
            q = _mm_add_ps(q, _mm_movehl_ps(q, q));                                 /* l + 2 */
            q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));                             /* l + 1 */
            out[(size_t)p * K + k] = _mm_cvtss_f32(q) + b[k];
        }
}
FPF__AVX2 static void fpf__f32_narrow_1xKc16__avx2(const float *x, int n, int ldx, int cin, const float *wT, int K,
                                                   const float *b, float *out) {
    int p, k, ci;
    for (p = 0; p < n; p++)
        for (k = 0; k < K; k++) {
            const float *xp = x + (size_t)p * ldx, *w = wT + (size_t)k * cin;
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), h; /* lanes 0..7, 8..15 */
            __m128 q;
            for (ci = 0; ci < cin; ci += 16) {
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(xp + ci), _mm256_loadu_ps(w + ci), s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(xp + ci + 8), _mm256_loadu_ps(w + ci + 8), s1);
            }
            h = _mm256_add_ps(s0, s1);
            q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
            q = _mm_add_ps(q, _mm_movehl_ps(q, q));
            q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
            out[(size_t)p * K + k] = _mm_cvtss_f32(q) + b[k];
        }
}
#endif
#if defined(FPF__NEON)
static void fpf__f32_narrow_1xKc16__neon(const float *x, int n, int ldx, int cin, const float *wT, int K,
                                         const float *b, float *out) {
    int p, k, ci, j;
    for (p = 0; p < n; p++)
        for (k = 0; k < K; k++) {
            const float *xp = x + (size_t)p * ldx, *w = wT + (size_t)k * cin;
            float32x4_t v[4], q;
            float32x2_t r;
            for (j = 0; j < 4; j++) v[j] = vdupq_n_f32(0.0f);
            for (ci = 0; ci < cin; ci += 16)
                for (j = 0; j < 4; j++) v[j] = vfmaq_f32(v[j], vld1q_f32(xp + ci + 4 * j), vld1q_f32(w + ci + 4 * j));
            q = vaddq_f32(vaddq_f32(v[0], v[2]), vaddq_f32(v[1], v[3])); /* l + 8, then l + 4 */
            r = vadd_f32(vget_low_f32(q), vget_high_f32(q));            /* l + 2 */
            out[(size_t)p * K + k] = (vget_lane_f32(r, 0) + vget_lane_f32(r, 1)) + b[k];
        }
}
#endif

/* The narrow kernel of a kernel row (the twin with the row's fusion when cin % 16 != 0: NULL). */
static fpf__f32_narrow_fn fpf__narrow_for(const fpf__kernels *K, int cin) {
    if (cin % 16) return NULL;
    switch (K->isa) {
#if defined(FPF__X86)
    case FPF_ISA_AVX2: return fpf__f32_narrow_1xKc16__avx2;
    case FPF_ISA_AVX512: return fpf__f32_narrow_1xKc16__avx512;
#endif
#if defined(FPF__NEON)
    case FPF_ISA_NEON: return fpf__f32_narrow_1xKc16__neon;
#endif
    default: return fpf__f32_narrow_1xKc16__scalar;
    }
}

static float fpf__sigmoidf(float x);

/* The deconv's tap ab, n pixels of tmp (a w-wide map, cin deep), each to its output pixel
   (2i + a, 2j + b) of out: copied (head NULL), or its K mask values sigmoid(head 1×1 conv):
   with wT by the narrow kernel, else (an int8 head) from the logits the conv made in tmp2. */
#define FPF__NARROW_PX 64
typedef struct fpf__mask_up_args {
    const float *tmp, *logits, *wT, *b;
    fpf__f32_narrow_fn fn;
    int n, w, cin, K, ab, fused;
    fpf__map out;
} fpf__mask_up_args;

static void fpf__mask_up_task(void *ctx, int task) {
    const fpf__mask_up_args *a = (const fpf__mask_up_args *)ctx;
    float lg[FPF__NARROW_PX * 16];
    int L0 = task * FPF__NARROW_PX, n = a->n - L0 < FPF__NARROW_PX ? a->n - L0 : FPF__NARROW_PX, p, o;
    const float *src = a->tmp + (size_t)L0 * a->cin, *v = lg;
    if (a->logits) v = a->logits + (size_t)L0 * a->K;
    else if (a->wT && a->fn) a->fn(src, n, a->cin, a->cin, a->wT, a->K, a->b, lg);
    else if (a->wT) fpf__f32_narrow__ref(src, n, a->cin, a->cin, a->wT, a->K, a->b, lg, a->fused);
    for (p = 0; p < n; p++) {
        int L = L0 + p, i = L / a->w, j = L - i * a->w;
        float *d = a->out.d + ((size_t)(2 * i + a->ab / 2) * a->out.w + 2 * j + a->ab % 2) * a->out.ld;
        if (!a->wT && !a->logits) memcpy(d, src + (size_t)p * a->cin, (size_t)a->cin * sizeof(float));
        else for (o = 0; o < a->K; o++) d[o] = fpf__sigmoidf(v[(size_t)p * a->K + o]);
    }
}

/* The 2×2 transposed conv on in (a batch of maps as one tall map: the rows of each map stay
   together), each tap a 1×1 conv over all pixels as one flat axis, into tmp. qin: in as u8 (an int8
   chain). head NULL: out = the deconv output (ReLU'd), out.c = k->cout. Else out = the mask head's
   masks, sigmoid(head(deconv)), out.c = head->cout <= 16: wT (head's weights transposed, [K][cin])
   runs it as the narrow kernel; an int8 head (wT NULL) runs as a conv into logits [in.h·in.w][K]. */
static void fpf__deconv2x2(const fpf__runner *r, const fpf__conv *k, fpf__map in, const uint8_t *qin, fpf__map out,
                           float *tmp, const fpf__conv *head, const float *wT, float *logits) {
    int ab;
    fpf__qconv qt;
    for (ab = 0; ab < 4; ab++) {
        fpf__conv tap = *k; /* the (a, b) tap as a 1×1 conv */
        fpf__conv_args a;
        fpf__mask_up_args m;
        const fpf__kernels *K = r && r->kern ? r->kern : &fpf__kernels__scalar;
        tap.kh = tap.kw = 1;
        tap.w = k->w ? k->w + (size_t)ab * k->cin * k->cout : NULL; /* NULL once packed in place */
        tap.wp = k->wp ? k->wp + (size_t)ab * k->cin * 16 : NULL; /* rows ab·cin .. of each panel */
        if (k->q) tap.q = fpf__qtap(k->q, ab, k->cin, k->cout, &qt);
        memset(&a, 0, sizeof a);
        a.k = &tap; a.in = in; a.out = fpf__mk(tmp, in.h, in.w, k->cout); a.stride = 1; a.flags = FPF__RELU;
        a.qin = qin; a.flat = 1;
        fpf__conv2d(r, &a);                                                     /* [n, cout] */
        memset(&m, 0, sizeof m);
        m.tmp = tmp; m.n = in.h * in.w; m.w = in.w; m.cin = k->cout; m.ab = ab; m.out = out; m.fused = K->fused;
        if (head) {
            fpf__conv_args h;
            memset(&h, 0, sizeof h);
            h.k = head; h.in = a.out; h.out = fpf__mk(logits, in.h, in.w, head->cout); h.stride = 1; h.flat = 1;
            m.K = head->cout; m.b = head->b;
            if (wT) {
                if (r && r->observe) fpf__observe(r, &h); /* calibration sees every conv's input */
                m.wT = wT; m.fn = fpf__narrow_for(K, m.cin);
            } else {
                fpf__conv2d(r, &h); m.logits = logits;
            }
        }
        fpf__parallel(r, fpf__mask_up_task, &m, (m.n + FPF__NARROW_PX - 1) / FPF__NARROW_PX);
    }
}

/* ---------------------------------------------------------------------------------------------
   The built-in thread pool (FPF_NO_THREADS removes it). Workers start at session set-up. Tasks
   are handed out one at a time from a shared counter (dynamic chunks, not static halves), so a
   thread whose core is taken by a neighbour simply takes fewer tasks. The calling thread works
   too. A forward pass is hundreds of short jobs with a little serial work between them, and a
   sleep on a condition variable costs a futex wake-up of another core each time (tens of
   microseconds, more in a VM), so a thread that waits (a worker for the next job, the caller
   for the last tasks) first polls, for at most FPF_POOL_SPIN pause steps, and only then sleeps.
   All state changes happen under the mutex (the polled ones as atomic stores); the polls only
   read, and the mutex decides. Polling needs GCC or clang on x86-64 (atomics, pause). */
#ifndef FPF_NO_THREADS
#define FPF__MAX_THREADS 64
#ifndef FPF_POOL_SPIN
#define FPF_POOL_SPIN 4096
#endif
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FPF__POLL(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define FPF__SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define FPF__PAUSE() __builtin_ia32_pause()
#define FPF__SPIN FPF_POOL_SPIN
#else
#define FPF__POLL(x) (x)
#define FPF__SET(x, v) ((x) = (v))
#define FPF__PAUSE() ((void)0)
#define FPF__SPIN 0              /* sleep at once */
#endif
typedef struct fpf__pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t th[FPF__MAX_THREADS];
    int n_workers;          /* started threads besides the caller */
    int gen;                /* bumped for every job (modulo 2^30) */
    fpf_task_fn fn;
    void *ctx;
    int n, next, finished, quit;
} fpf__pool;

static void fpf__pool_drain(fpf__pool *p) { /* called and returns with mu held */
    while (p->next < p->n) {
        int t = p->next++;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->ctx, t);
        pthread_mutex_lock(&p->mu);
        FPF__SET(p->finished, p->finished + 1);
        if (p->finished == p->n) pthread_cond_broadcast(&p->done);
    }
}

/* Polls (mu not held) for at most FPF__SPIN pause steps, until *word != value (ne) or
   *word >= value (!ne), or quit shows. */
static void fpf__pool_poll(const fpf__pool *p, const int *word, int value, int ne) {
    int i;
    for (i = 0; i < FPF__SPIN; i++) {
        int w = FPF__POLL(*word);
        if ((ne ? w != value : w >= value) || FPF__POLL(p->quit)) return;
        FPF__PAUSE();
    }
}

static void *fpf__pool_worker(void *arg) {
    fpf__pool *p = (fpf__pool *)arg;
    int seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (!p->quit && p->gen == seen) {
            pthread_mutex_unlock(&p->mu);
            fpf__pool_poll(p, &p->gen, seen, 1);
            pthread_mutex_lock(&p->mu);
        }
        while (!p->quit && p->gen == seen) pthread_cond_wait(&p->work, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        fpf__pool_drain(p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void fpf__pool_run(void *pool, fpf_task_fn fn, void *ctx, int n) {
    fpf__pool *p = (fpf__pool *)pool;
    pthread_mutex_lock(&p->mu);
    p->fn = fn; p->ctx = ctx; p->n = n; p->next = 0; FPF__SET(p->finished, 0);
    FPF__SET(p->gen, (p->gen + 1) & 0x3fffffff);
    pthread_cond_broadcast(&p->work);
    fpf__pool_drain(p);
    if (p->finished < n) {
        pthread_mutex_unlock(&p->mu);
        fpf__pool_poll(p, &p->finished, n, 0);
        pthread_mutex_lock(&p->mu);
    }
    while (p->finished < p->n) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* Starts n_threads − 1 workers; returns 0 when none could be started (then run serially). */
static int fpf__pool_start(fpf__pool *p, int n_threads) {
    int i;
    memset(p, 0, sizeof *p);
    if (n_threads > FPF__MAX_THREADS) n_threads = FPF__MAX_THREADS;
    if (pthread_mutex_init(&p->mu, NULL) != 0) return 0;
    if (pthread_cond_init(&p->work, NULL) != 0) { pthread_mutex_destroy(&p->mu); return 0; }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->work); pthread_mutex_destroy(&p->mu); return 0;
    }
    for (i = 0; i < n_threads - 1; i++)
        if (pthread_create(&p->th[i], NULL, fpf__pool_worker, p) != 0) break;
    p->n_workers = i;
    return 1;
}

static void fpf__pool_stop(fpf__pool *p) {
    int i;
    pthread_mutex_lock(&p->mu);
    FPF__SET(p->quit, 1);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->n_workers; i++) pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->work); pthread_cond_destroy(&p->done); pthread_mutex_destroy(&p->mu);
}
#endif

/* ---------------------------------------------------------------------------------------------
   Session state. A pyramid is five maps P2..P6 (level i = 0..4 at stride 4·2^i) sharing one
   pixel stride ld, so a tower can write its half of a concatenated pyramid in place. */

typedef struct fpf__pyr {
    float *d[5];
    int h[5], w[5];
    int ld;
} fpf__pyr;

typedef struct fpf__bump { /* carves the workspace; base NULL = only measure */
    char *base;
    size_t used;
} fpf__bump;

static void *fpf__take(fpf__bump *b, size_t bytes) {
    void *p = b->base ? b->base + b->used : NULL;
    b->used += (bytes + FPF__ALIGN - 1) & ~(size_t)(FPF__ALIGN - 1);
    return p;
}
#define FPF__TAKEF(b, n) ((float *)fpf__take((b), (size_t)(n) * sizeof(float)))
#define FPF__TAKEI(b, n) ((int *)fpf__take((b), (size_t)(n) * sizeof(int)))

typedef struct fpf__results {
    fpf_instance *inst;     /* [max_det] */
    float *masks;           /* [max_det][28·28] */
    int n;
    int over;               /* detections dropped at max_det */
} fpf__results;

struct fpf_session {
    const fpf_model *model, *nucleus;
    fpf_options opt;
    fpf__runner run;
    fpf_allocator alloc;
    void *owned;            /* the workspace when fpf_session_init allocated it */
    int max_h, max_w;       /* the largest image this session takes */
    int h, w, Hp, Wp;       /* the current image and its padded size */
    int share;              /* the FPF nucleus tower equals the nucleus model's tower */
    int max_det;
    float norm_lo, norm_k;  /* 16-bit mapping of the current image: (v − lo)·k */
    char msg[192];
    float *mold;            /* [Hp][Wp][cin] */
    uint32_t *hist;         /* [65536] 16-bit histogram for percentiles */
    float *anchors;         /* [A][4] */
    fpf__pyr F, Pn;         /* fused pyramid (D ch); the nucleus model's pyramid */
    char *arena;            /* scratch shared by the towers and the heads, one at a time */
    size_t arena_bytes;
    fpf__results cells, nuclei;
    fpf_output out;
    const char *prefix;     /* dump-name prefix: "" or "nuclei:" */
    const fpf_input *pin_in; /* fpf_tiler: these images (tiles) take the whole image's 16-bit range */
    float pin_lo[2], pin_hi[2]; /* [cell, nucleus] */
#ifndef FPF_NO_THREADS
    fpf__pool pool;         /* the built-in pool (opt.n_threads > 1, no parallel_for) */
    int pool_on;
#endif
};

static fpf_result fpf__err(fpf_session *s, fpf_result r, const char *a, const char *b) {
    fpf__msg3(s->msg, sizeof s->msg, a, b, NULL);
    return r;
}

static void fpf__dump(fpf_session *s, const char *name, const float *d, int ndim, int d0, int d1,
                      int d2, int d3, int ld) {
    char full[96];
    int dims[4];
    if (!s->opt.stage) return;
    dims[0] = d0; dims[1] = d1; dims[2] = d2; dims[3] = d3;
    fpf__msg3(full, sizeof full, s->prefix, name, NULL);
    s->opt.stage(s->opt.stage_user, full, d, ndim, dims, ld ? ld : dims[ndim - 1]);
}

static int fpf__aborted(fpf_session *s) {
    return s->opt.abort_check && s->opt.abort_check(s->opt.abort_user);
}

/* ---------------------------------------------------------------------------------------------
   1. Input molding (§1.4, §4.3): float32 (x − 112.5f) / 255.0f, a true division. 16-bit data is
   first mapped to 0..255 (see "Images and normalization"). Padding at the bottom/right holds
   intensity 0. */

static float fpf__pixel(const fpf_session *s, const fpf_image *im, int y, int x) {
    const uint8_t *row = (const uint8_t *)im->pixels + (size_t)y * im->stride;
    float v;
    if (im->bits == 8) return (float)row[x];
    v = ((float)((const uint16_t *)(const void *)row)[x] - s->norm_lo) * s->norm_k;
    return v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
}

/* The value at percentile p of the 16-bit histogram: sorted[floor(p/100 · (n−1))]. */
static float fpf__hist_percentile(const uint32_t *hist, size_t n, float p) {
    size_t rank = (size_t)((double)p / 100.0 * (double)(n - 1)), seen = 0;
    int v;
    for (v = 0; v < 65536; v++) {
        seen += hist[v];
        if (seen > rank) return (float)v;
    }
    return 65535.0f;
}

static void fpf__norm16(fpf_session *s, const fpf_image *im) {
    float lo = s->opt.norm16_lo, hi = s->opt.norm16_hi;
    s->norm_lo = 0.0f; s->norm_k = 1.0f;
    if (im->bits != 16 || s->opt.norm16 == FPF_NORM16_NONE) return;
    if (s->pin_in && (im == &s->pin_in->cell || im == &s->pin_in->nucleus)) {
        lo = s->pin_lo[im == &s->pin_in->nucleus]; hi = s->pin_hi[im == &s->pin_in->nucleus];
    } else if (s->opt.norm16 == FPF_NORM16_PERCENTILE) {
        int y, x;
        float plo = lo == 0.0f && hi == 0.0f ? 0.1f : lo, phi = lo == 0.0f && hi == 0.0f ? 99.9f : hi;
        memset(s->hist, 0, 65536 * sizeof(uint32_t));
        for (y = 0; y < im->height; y++)
            for (x = 0; x < im->width; x++)
                s->hist[((const uint16_t *)(const void *)((const uint8_t *)im->pixels + (size_t)y * im->stride))[x]]++;
        lo = fpf__hist_percentile(s->hist, (size_t)im->width * im->height, plo);
        hi = fpf__hist_percentile(s->hist, (size_t)im->width * im->height, phi);
    }
    if (!(hi > lo)) hi = lo + 1.0f;
    s->norm_lo = lo;
    s->norm_k = 255.0f / (hi - lo);
}

/* dst[y][x][ch] for channel ch of nch; everything past the image is intensity 0. */
static void fpf__mold(fpf_session *s, const fpf_config *c, const fpf_image *im, int ch, int nch) {
    float pad = (0.0f - c->mean_pixel) / c->pixel_scale;
    int y, x;
    fpf__norm16(s, im);
    for (y = 0; y < s->Hp; y++)
        for (x = 0; x < s->Wp; x++) {
            float v = pad;
            if (y < s->h && x < s->w) v = (fpf__pixel(s, im, y, x) - c->mean_pixel) / c->pixel_scale;
            s->mold[((size_t)y * s->Wp + x) * nch + ch] = v;
        }
}

/* ---------------------------------------------------------------------------------------------
   2. Backbone (§2): the reduced ResNet-50 and the FPN (§3) of one tower. */

/* One conv of a bottleneck; qin: its input as u8 (made by the layer before); qout: also write its
   output as u8 for the next int8 layer nxt, keeping the floats only when keep. */
static void fpf__chain_run(const fpf__runner *r, const fpf__conv *k, fpf__map in, const uint8_t *qin, fpf__map out,
                           uint8_t *qout, int keep, const fpf__conv *nxt, int stride, int flags, const fpf__map *res) {
    fpf__conv_args a;
    memset(&a, 0, sizeof a);
    a.k = k; a.in = in; a.out = out; a.stride = stride; a.pad = (k->kh - 1) / 2;
    a.flags = flags; a.res = res; a.qin = qin;
    if (qout) { a.qout = qout; a.qkeep = keep; a.qout_s = nxt->q->in_scale; a.qout_z = nxt->q->in_zero; }
    fpf__conv2d(r, &a);
}

/* A whole map to u8 with (s, z), a row per task, as an int8 layer quantizes the rows it reads. */
typedef struct fpf__qmap_args { fpf__map m; float s; int z; uint8_t *dst; const struct fpf__qkernels *K; } fpf__qmap_args;

static void fpf__qmap_task(void *ctx, int y) {
    const fpf__qmap_args *a = (const fpf__qmap_args *)ctx;
    const float *src = a->m.d + (size_t)y * a->m.w * a->m.ld;
    uint8_t *dst = a->dst + (size_t)y * a->m.w * a->m.c;
    int x;
    if (a->m.ld == a->m.c) { a->K->quant(src, a->m.w * a->m.c, a->s, a->z, dst); return; }
    for (x = 0; x < a->m.w; x++) a->K->quant(src + (size_t)x * a->m.ld, a->m.c, a->s, a->z, dst + (size_t)x * a->m.c);
}

static void fpf__qmap(const fpf__runner *r, fpf__map m, const fpf__qconv *q, uint8_t *dst) {
    fpf__qmap_args a;
    a.m = m; a.s = q->in_scale; a.z = q->in_zero; a.dst = dst;
    a.K = r->qkern ? r->qkern : &fpf__qkernels__scalar;
    fpf__parallel(r, fpf__qmap_task, &a, m.h);
}

/* Do two int8 layers read their input with the same (s_x, z_x)? */
static int fpf__same_q(const fpf__conv *a, const fpf__conv *b) {
    return a->q && b->q && a->q->in_scale == b->q->in_scale && a->q->in_zero == b->q->in_zero;
}

/* A stage of bottleneck blocks. Between int8 layers the maps stay 8-bit: the writer's epilogue
   makes the u8 its one reader would make of the float. m1 and m2 (read by one conv each) are then
   only u8; a block's output x, read by the next block's 2a and, as floats, by its shortcut add, is
   both. Two scratch buffers take turns: A holds x's u8 and then m2, B holds m1 and then the next
   x's u8 (a quarter of its float size, so it fits when stage_out <= 4·bottleneck, as in ResNet).
   The stage's output also goes on as u8 to the next stage's first block (its 2a and, when it reads
   with the same (s, z), its shortcut), returned here and passed back as in8; a first block without
   in8 (the stem's C1) quantizes its input once for both. The shortcut runs before 2b, which then
   overwrites that u8. fpf_options.int8_requantize = 1 passes floats only: the reference twin, the
   same bits. */
static const uint8_t *fpf__stage(fpf_session *s, const fpf__tower *t, const fpf_config *c, int st,
                                 fpf__map in, fpf__map out, float *t1, float *t2, size_t tbytes, const uint8_t *in8) {
    int b, chain = !s->opt.int8_requantize && !s->run.observe, x8 = 0;
    float *A = in8 == (const uint8_t *)t1 ? t1 : t2, *B = A == t1 ? t2 : t1, *sw;
    for (b = 0; b < c->blocks[st]; b++) {
        const fpf__conv *k = t->block[st][b], *kn = b + 1 < c->blocks[st] ? t->block[st][b + 1] : NULL;
        int stride = b == 0 && st > 0 ? 2 : 1;  /* stage 2 keeps its resolution; the stride sits on the 1×1 */
        int u1 = chain && k[0].q && k[1].q, u2 = chain && k[1].q && k[2].q, s8 = 0;
        int u3 = chain && kn && k[2].q && kn[0].q && c->stage_out[st] <= 4 * c->bottleneck[st];
        fpf__map x = b == 0 ? in : out;
        fpf__map m1 = fpf__mk(B, out.h, out.w, c->bottleneck[st]);
        fpf__map m2 = fpf__mk(A, out.h, out.w, c->bottleneck[st]);
        if (!kn && st + 1 < 4) { /* the last block: its output also feeds the next stage's first 2a */
            kn = t->block[st + 1][0];
            u3 = chain && k[2].q && kn[0].q && (size_t)out.h * out.w * out.c <= tbytes;
        }
        if (b == 0) {
            x8 = in8 != NULL && chain && k[0].q;
            if (!x8 && chain && fpf__same_q(&k[0], &k[3]) && (size_t)in.h * in.w * in.c <= tbytes) {
                fpf__qmap(&s->run, in, k[0].q, (uint8_t *)A);                               /* C1 to u8, once */
                x8 = 1;
            }
            s8 = x8 && fpf__same_q(&k[0], &k[3]);
        }
        fpf__chain_run(&s->run, &k[0], x, x8 ? (uint8_t *)A : NULL, m1, u1 ? (uint8_t *)B : NULL, 0, &k[1],
                       stride, FPF__RELU, NULL);                                            /* 2a: 1×1 (/2), BN, ReLU */
        if (b == 0)                                                                         /* shortcut: 1×1 (/2), BN */
            fpf__chain_run(&s->run, &k[3], in, s8 ? (uint8_t *)A : NULL, out, NULL, 0, NULL, stride, FPF__LINEAR, NULL);
        fpf__chain_run(&s->run, &k[1], m1, u1 ? (uint8_t *)B : NULL, m2, u2 ? (uint8_t *)A : NULL, 0, &k[2],
                       1, FPF__RELU, NULL);                                                 /* 2b: 3×3, BN, ReLU */
        fpf__chain_run(&s->run, &k[2], m2, u2 ? (uint8_t *)A : NULL, out, u3 ? (uint8_t *)B : NULL, 1, kn,
                       1, FPF__RESIDUAL | FPF__RELU, &out);                                 /* 2c: + shortcut, ReLU */
        x8 = u3;
        sw = A; A = B; B = sw;
    }
    return x8 ? (const uint8_t *)A : NULL;
}

/* Banded blocks (fpf_options.block_rows, §13): a block makes its output a band of rows [y0, y1)
   at a time, 2a -> 2b -> 2c (+ shortcut), so that m1 and m2 live in band buffers that stay in
   cache and x is read while it is still there. The 3×3 needs m1's rows [y0 − 1, y1 + 1): m1 keeps
   2a's rows [lo, hi), 2a makes each row once, and the two rows a band shares with the next are
   moved to the front. An identity block's output overwrites its input x in place (floats and
   u8): 2c writes rows [y0, y1) only after 2a has read x up to row y1 + 1, and the next band's 2a
   reads from row y1 + 1 on. Every output value is the same sum as with whole maps. */
typedef struct fpf__block_io {
    fpf__map x, out;    /* whole maps; out.d == x.d in an identity block */
    const uint8_t *x8;  /* x as u8 for 2a (and the shortcut when s8), or NULL */
    uint8_t *out8;      /* the output as u8 too (for kn, the next int8 reader), or NULL */
    const fpf__conv *kn;
    int stride, s8, u1, u2; /* u1, u2: m1, m2 pass as u8 only */
} fpf__block_io;

/* conv k from in (rows from iy0 of its whole input) to out (rows from y0 of its whole output). */
static fpf__conv_args fpf__band_args(const fpf__conv *k, fpf__map in, int iy0, const uint8_t *qin, fpf__map out,
                                     int y0, int stride, int flags, const fpf__map *res) {
    fpf__conv_args a;
    memset(&a, 0, sizeof a);
    a.k = k; a.in = in; a.iy0 = iy0; a.qin = qin; a.out = out; a.y0 = y0;
    a.stride = stride; a.pad = (k->kh - 1) / 2; a.flags = flags; a.res = res;
    return a;
}

/* ... that also writes its output as u8 at qout for the int8 layer nxt (the floats too when keep). */
static void fpf__band_run(const fpf__runner *r, fpf__conv_args a, uint8_t *qout, int keep, const fpf__conv *nxt) {
    if (qout) { a.qout = qout; a.qkeep = keep; a.qout_s = nxt->q->in_scale; a.qout_z = nxt->q->in_zero; }
    fpf__conv2d(r, &a);
}

/* Rows [y0, y1) of out map m (a view of those rows). */
static fpf__map fpf__map_rows(fpf__map m, int y0, int y1) {
    m.d += (size_t)y0 * m.w * m.ld; m.h = y1 - y0;
    return m;
}

static void fpf__block_bands(const fpf__runner *r, const fpf__conv *k, const fpf__block_io *io, int first,
                             float *band, int rows) {
    int H = io->out.h, W = io->out.w, F = k[0].cout, R = rows < H ? rows : H, y0, lo = 0, hi = 0;
    size_t row1 = (size_t)W * F * (io->u1 ? 1 : sizeof(float));         /* bytes of an m1 row */
    float *m1 = band, *m2 = band + (size_t)(R + 2) * W * F;               /* [R + 2][W][F], [R][W][F] */
    uint8_t *q1 = (uint8_t *)m1, *q2 = io->u2 ? (uint8_t *)m2 : NULL;
    for (y0 = 0; y0 < H; y0 += R) {
        int y1 = y0 + R < H ? y0 + R : H, r0 = y0 > 0 ? y0 - 1 : 0, r1 = y1 < H ? y1 + 1 : H;
        fpf__map ob = fpf__map_rows(io->out, y0, y1);
        memmove(q1, q1 + (size_t)(r0 - lo) * row1, (size_t)(hi - r0) * row1);  /* keep m1 rows [r0, hi) */
        lo = r0;
        if (r1 > hi)                                                          /* 2a: 1×1 (/2), BN, ReLU */
            fpf__band_run(r, fpf__band_args(&k[0], io->x, 0, io->x8, fpf__mk(m1 + (size_t)(hi - lo) * W * F, r1 - hi, W, F),
                                            hi, io->stride, FPF__RELU, NULL),
                          io->u1 ? q1 + (size_t)(hi - lo) * row1 : NULL, 0, &k[1]);
        hi = r1;
        if (first)                                                            /* shortcut: 1×1 (/2), BN */
            fpf__band_run(r, fpf__band_args(&k[3], io->x, 0, io->s8 ? io->x8 : NULL, ob, y0, io->stride, FPF__LINEAR, NULL),
                          NULL, 0, NULL);
        fpf__band_run(r, fpf__band_args(&k[1], fpf__mk(m1, r1 - r0, W, F), r0, io->u1 ? q1 : NULL, fpf__mk(m2, y1 - y0, W, F),
                                        y0, 1, FPF__RELU, NULL), q2, 0, &k[2]);   /* 2b: 3×3, BN, ReLU */
        fpf__band_run(r, fpf__band_args(&k[2], fpf__mk(m2, y1 - y0, W, F), y0, q2, ob, y0, 1, FPF__RESIDUAL | FPF__RELU, &io->out),
                      io->out8 ? io->out8 + (size_t)y0 * W * k[2].cout : NULL, 1, io->kn); /* 2c: + shortcut, ReLU */
    }
}

/* fpf__stage with banded blocks. The u8 of the stage's output goes to X[st % 2] (written in
   place block after block), its input's u8 comes from the other (xb: their bytes). */
static const uint8_t *fpf__stage_bands(fpf_session *s, const fpf__tower *t, const fpf_config *c, int st, fpf__map in,
                                       fpf__map out, float *band, int rows, float *const X[2], const size_t xb[2],
                                       const uint8_t *in8) {
    int b, chain = !s->opt.int8_requantize && !s->run.observe;
    uint8_t *o8 = (uint8_t *)X[st % 2], *i8 = (uint8_t *)X[1 - st % 2];
    const uint8_t *x8 = in8;
    for (b = 0; b < c->blocks[st]; b++) {
        const fpf__conv *k = t->block[st][b], *kn = b + 1 < c->blocks[st] ? t->block[st][b + 1] : NULL;
        fpf__block_io io;
        if (!kn && st + 1 < 4) kn = t->block[st + 1][0];  /* the last block's output feeds the next 2a */
        memset(&io, 0, sizeof io);
        io.x = b == 0 ? in : out; io.out = out; io.kn = kn;
        io.stride = b == 0 && st > 0 ? 2 : 1;
        io.u1 = chain && k[0].q && k[1].q; io.u2 = chain && k[1].q && k[2].q;
        if (b == 0 && !x8 && chain && fpf__same_q(&k[0], &k[3]) && (size_t)in.h * in.w * in.c <= xb[1 - st % 2]) {
            fpf__qmap(&s->run, in, k[0].q, i8);                                   /* C1 to u8, once */
            x8 = i8;
        }
        io.x8 = chain && k[0].q ? x8 : NULL;
        io.s8 = b == 0 && io.x8 && fpf__same_q(&k[0], &k[3]);
        if (chain && kn && k[2].q && kn[0].q && (size_t)out.h * out.w * out.c <= xb[st % 2]) io.out8 = o8;
        fpf__block_bands(&s->run, k, &io, b == 0, band, rows);
        x8 = io.out8;
    }
    return x8;
}

static const char *fpf__cname[4] = {"C2", "C3", "C4", "C5"};
static const char *fpf__pname[5] = {"P2", "P3", "P4", "P5", "P6"};

typedef struct fpf__tbuf {
    float *band;        /* the stem tasks' conv1 rings, later the L2 rows of one band of P2 */
    float *pool;        /* C1 [H/4][W/4][stem], later L3 [H/8][W/8][F] */
    float *t1, *t2;     /* bottleneck scratch (banded blocks: the u8 of the stage outputs, or
                           nothing in fp32); after the stages t1 holds the u8 of L5..L3 */
    size_t tbytes, t2bytes; /* bytes of t1 and t2 */
    float *C[4];        /* C2..C5 */
    float *L4, *L5;     /* FPN top-down maps [.][.][F] */
} fpf__tbuf;

static size_t fpf__max(size_t a, size_t b) { return a > b ? a : b; }
static size_t fpf__min(size_t a, size_t b) { return a < b ? a : b; }

/* Rows per band of the bottleneck blocks, or 0: whole maps (fpf_options.block_rows; calibration's
   observer must see each input row once, so it gets whole maps). */
static int fpf__block_rows(const fpf_options *opt) {
    if (opt && (opt->block_rows < 0 || opt->conv_input)) return 0;
    return opt && opt->block_rows > 0 ? opt->block_rows : FPF__BLOCK_ROWS;
}

/* Rows per band of stage st's blocks, or 0: whole maps. block_rows > 0 bands every stage; the
   default bands the first FPF__BANDED_STAGES (res2, res3, the largest maps): on the smaller maps
   of res4 and res5 the task hand-outs of the extra calls cost more than the cache saves. By stage,
   not by map size, so that a smaller image never needs a larger part of the workspace. */
static int fpf__stage_rows(const fpf_options *opt, int st) {
    int r = fpf__block_rows(opt);
    return r && ((opt && opt->block_rows > 0) || st < FPF__BANDED_STAGES) ? r : 0;
}

/* Does the tower have an int8 layer (then its banded stages pass u8 maps)? */
static int fpf__tower_q8(const fpf__tower *t, const fpf_config *c) {
    int i, b, j;
    for (i = 0; i < 4; i++)
        for (b = 0; b < c->blocks[i]; b++)
            for (j = 0; j < 4; j++)
                if (t->block[i][b][j].q) return 1;
    for (i = 0; i < 4; i++)
        if (t->lateral[i].q || t->smooth[i].q) return 1;
    return 0;
}

/* Memory plan of one tower. The two largest maps are never stored whole: the stem's conv1 output
   (H/2 × W/2: 3 rows per stem task, FPF__STEM_BAND rows of C1 at a time) and the FPN's L2
   (H/4 × W/4 × F: FPF__BAND rows of P2 at a time), and C1's buffer holds L3 once C1 is dead. Banded stages keep their blocks' m1 and m2 in the
   same band buffer (free between the stem and P2); for them t1 and t2 hold only the u8 of the stage
   outputs of an int8 tower (t1 of C2 and C4, t2 of C1, C3 and C5); whole-map stages (fpf__stage)
   need both as large as their bottleneck maps. */
static void fpf__tower_layout(fpf__bump *b, const fpf_config *c, int Hp, int Wp, const fpf_options *opt, int q8,
                              fpf__tbuf *o) {
    size_t tmax = 0, n, H4 = (size_t)(Hp / 4), W4 = (size_t)(Wp / 4), bb = 0, x8[2];
    int i;
    x8[0] = 0; x8[1] = q8 && fpf__stage_rows(opt, 0) ? H4 * W4 * c->stem_width : 0;
    for (i = 0; i < 4; i++) {
        size_t h = (size_t)(Hp >> (i + 2)), w = (size_t)(Wp >> (i + 2)), R = (size_t)fpf__stage_rows(opt, i);
        R = R < h ? R : h;
        if (!R) tmax = fpf__max(tmax, h * w * c->bottleneck[i]);
        bb = fpf__max(bb, (2 * R + 2) * w * c->bottleneck[i]);           /* m1 [R + 2][w][.], m2 [R][w][.] */
        if (q8 && R) x8[i % 2] = fpf__max(x8[i % 2], h * w * c->stage_out[i]);
    }
    o->band = FPF__TAKEF(b, fpf__max(fpf__max(fpf__stem_ring_floats(FPF__STEM_BAND, Wp / 2, c->stem_width),
                                              (FPF__BAND + 2) * W4 * c->fpn_width), bb));
    o->pool = FPF__TAKEF(b, fpf__max(H4 * W4 * c->stem_width, (H4 / 2) * (W4 / 2) * c->fpn_width));
    o->tbytes = fpf__max(x8[0], tmax * sizeof(float));
    o->t2bytes = fpf__max(x8[1], tmax * sizeof(float));
    o->t1 = (float *)fpf__take(b, o->tbytes);
    o->t2 = (float *)fpf__take(b, o->t2bytes);
    for (i = 0; i < 4; i++) {
        n = (size_t)(Hp >> (i + 2)) * (size_t)(Wp >> (i + 2));
        o->C[i] = FPF__TAKEF(b, n * c->stage_out[i]);
    }
    o->L4 = FPF__TAKEF(b, (size_t)(Hp >> 4) * (Wp >> 4) * c->fpn_width);
    o->L5 = FPF__TAKEF(b, (size_t)(Hp >> 5) * (Wp >> 5) * c->fpn_width);
}

/* Stem (§2.1): ZeroPadding 3 + 7×7/2 valid (= symmetric pad 3, in the molded domain), BN, ReLU,
   then the 3×3/2 max-pool, all in the stem kernels (fpf__stem_band), FPF__STEM_BAND rows of C1 at a
   time; each band's tasks keep their conv1 rows in rings in band. Calibration sees conv1's input.
   In an int8 chain whose res2a reads C1 with one (s, z) in its 2a and shortcut, the stem also
   writes C1's u8 to t2, where fpf__stage_bands would quantize it, and returns it (else NULL). */
static const uint8_t *fpf__stem(fpf_session *s, const fpf__tower *t, fpf__map x, const fpf__tbuf *o, fpf__map C1, int chain) {
    const fpf__conv *k = t->block[0][0];
    uint8_t *q8 = chain && fpf__stage_rows(&s->opt, 0) && fpf__same_q(&k[0], &k[3]) &&
                  (size_t)C1.h * C1.w * C1.c <= o->t2bytes ? (uint8_t *)o->t2 : NULL;
    int y0;
    if (s->run.observe) s->run.observe(s->run.observe_user, t->conv1.layer, x.d, x.h, x.w, x.c, x.ld);
    for (y0 = 0; y0 < C1.h; y0 += FPF__STEM_BAND)
        fpf__stem_band(&s->run, &t->conv1, x, C1, y0, C1.h - y0 < FPF__STEM_BAND ? C1.h : y0 + FPF__STEM_BAND, o->band,
                       q8, q8 ? k[0].q : NULL);
    return q8;
}

/* P2 = 3×3(L2), L2 = c2p2(C2) + upsample2(L3), per band of P2 rows [y0, y1): L2 rows
   [y0 − 1, y1 + 1) (the 3×3's halo, clipped to the map) are made into band, then smoothed.
   chain (both int8): L2 has one reader, so c2p2 writes it into band as u8 only (fpf__stage). */
static void fpf__p2_bands(fpf_session *s, const fpf__tower *t, fpf__map C2, const fpf__map *L3, float *band,
                          fpf__map P, int fuse, int chain) {
    uint8_t *u8 = chain && t->lateral[0].q && t->smooth[0].q ? (uint8_t *)band : NULL;
    int y0;
    for (y0 = 0; y0 < P.h; y0 += FPF__BAND) {
        int y1 = P.h - y0 < FPF__BAND ? P.h : y0 + FPF__BAND;
        int r0 = y0 > 0 ? y0 - 1 : 0, r1 = y1 < P.h ? y1 + 1 : P.h;
        fpf__map L2 = fpf__mk(band, r1 - r0, P.w, t->lateral[0].cout);                 /* L2 rows [r0, r1) */
        fpf__map Pb = P;
        fpf__conv_args a;
        Pb.d = P.d + (size_t)y0 * P.w * P.ld; Pb.h = y1 - y0;
        memset(&a, 0, sizeof a);                                                        /* c2p2(C2) + up2(L3) */
        a.k = &t->lateral[0]; a.in = C2; a.out = L2; a.stride = 1; a.pad = (a.k->kh - 1) / 2;
        a.flags = FPF__RESIDUAL_UP2; a.res = L3; a.y0 = r0;
        if (u8) { a.qout = u8; a.qout_s = t->smooth[0].q->in_scale; a.qout_z = t->smooth[0].q->in_zero; }
        fpf__conv2d(&s->run, &a);
        memset(&a, 0, sizeof a);                                                        /* P2 = 3×3(L2) */
        a.k = &t->smooth[0]; a.in = L2; a.iy0 = r0; a.out = Pb; a.y0 = y0; a.stride = 1; a.pad = (a.k->kh - 1) / 2;
        a.flags = fuse;
        a.qin = u8;
        fpf__conv2d(&s->run, &a);
    }
}

/* Runs one tower on s->mold (cin channels) and writes P2..P5 into dst at channel offset
   c_off (adding to what is there when accumulate: FPF-add). who names the dumps. */
static void fpf__tower_run(fpf_session *s, const fpf__tower *t, const fpf_config *c, int cin,
                           fpf__pyr *dst, int c_off, int accumulate, const char *who) {
    fpf__bump b;
    fpf__tbuf o;
    fpf__map x, C1, C[4], L[4], P[4];
    const uint8_t *x8 = NULL;
    float *X[2];
    size_t xb[2];
    int i, Fw = c->fpn_width, fuse = accumulate ? FPF__ACCUMULATE : 0; /* FPF-add: P += the tower's */
    int chain = !s->opt.int8_requantize && !s->run.observe;             /* u8 between int8 layers */
    char name[32];
    b.base = s->arena; b.used = 0;
    fpf__tower_layout(&b, c, s->Hp, s->Wp, &s->opt, fpf__tower_q8(t, c), &o);
    x = fpf__mk(s->mold, s->Hp, s->Wp, cin);
    C1 = fpf__mk(o.pool, s->Hp / 4, s->Wp / 4, c->stem_width);
    x8 = fpf__stem(s, t, x, &o, C1, chain);                       /* C1 [H/4, W/4, stem] (and its u8) */
    fpf__msg3(name, sizeof name, who, ".C1", NULL);
    fpf__dump(s, name, C1.d, 3, C1.h, C1.w, C1.c, 0, 0);
    X[0] = o.t1; X[1] = o.t2; xb[0] = o.tbytes; xb[1] = o.t2bytes;
    for (i = 0; i < 4; i++) {                                         /* C2..C5 at stride 4..32 */
        int h = s->Hp >> (i + 2), w = s->Wp >> (i + 2), rows = fpf__stage_rows(&s->opt, i); /* bands, or 0 */
        C[i] = fpf__mk(o.C[i], h, w, c->stage_out[i]);
        x8 = rows ? fpf__stage_bands(s, t, c, i, i == 0 ? C1 : C[i - 1], C[i], o.band, rows, X, xb, x8)
                  : fpf__stage(s, t, c, i, i == 0 ? C1 : C[i - 1], C[i], o.t1, o.t2, fpf__min(o.tbytes, o.t2bytes), x8);
        fpf__msg3(name, sizeof name, who, ".", fpf__cname[i]);
        fpf__dump(s, name, C[i].d, 3, h, w, C[i].c, 0, 0);
    }
    /* FPN top-down: L5 = c5p5(C5); Lk = ckpk(Ck) + upsample2(L(k+1)); Pk = 3×3(Lk) */
    L[3] = fpf__mk(o.L5, C[3].h, C[3].w, Fw);
    L[2] = fpf__mk(o.L4, C[2].h, C[2].w, Fw);
    L[1] = fpf__mk(o.pool, C[1].h, C[1].w, Fw);                          /* C1 is dead by now */
    for (i = 0; i < 4; i++) {
        P[i] = fpf__mk(dst->d[i] + c_off, dst->h[i], dst->w[i], Fw);     /* [H/4·2^-i, W/4·2^-i, Fw] */
        P[i].ld = dst->ld;
    }
    for (i = 3; i >= 1; i--) {   /* L5 = c5p5(C5); L4, L3 = ckpk(Ck) + up2(L(k+1)); P5..P3 = 3×3(Lk) (+=) */
        /* both int8: Lk's floats stay for the finer level's up2-add, its u8 for the 3×3 goes to t1 */
        uint8_t *u8 = chain && t->lateral[i].q && t->smooth[i].q && (size_t)L[i].h * L[i].w * Fw <= o.tbytes
                          ? (uint8_t *)o.t1 : NULL;
        fpf__chain_run(&s->run, &t->lateral[i], C[i], NULL, L[i], u8, 1, &t->smooth[i], 1,
                       i == 3 ? FPF__LINEAR : FPF__RESIDUAL_UP2, i == 3 ? NULL : &L[i + 1]);
        fpf__chain_run(&s->run, &t->smooth[i], L[i], u8, P[i], NULL, 0, NULL, 1, fuse, NULL);
    }
    fpf__p2_bands(s, t, C[0], &L[1], o.band, P[0], fuse, chain);
    for (i = 0; i < 4 && !accumulate; i++) {
        fpf__msg3(name, sizeof name, who, ".", fpf__pname[i]);
        fpf__dump(s, name, P[i].d, 3, P[i].h, P[i].w, Fw, 0, P[i].ld);
    }
}

/* P6 = P5[::2, ::2] (§3: a 1×1 max-pool with stride 2 is a subsampling). */
static void fpf__p6(fpf__pyr *p, int channels) {
    int y, x;
    for (y = 0; y < p->h[4]; y++)
        for (x = 0; x < p->w[4]; x++)
            memcpy(p->d[4] + ((size_t)y * p->w[4] + x) * p->ld,
                   p->d[3] + ((size_t)(2 * y) * p->w[3] + 2 * x) * p->ld, (size_t)channels * sizeof(float));
}

/* ---------------------------------------------------------------------------------------------
   3. Anchors (§5): float64, centres at multiples of the stride (no half-stride offset), order
   (level, y, x, ratio), normalized with (H−1, W−1) and y2−1, x2−1, cast to float32 once. */

static int fpf__anchor_count(int Hp, int Wp) {
    int i, n = 0;
    for (i = 0; i < 5; i++) n += FPF__A * (Hp >> (i + 2)) * (Wp >> (i + 2));
    return n;
}

static void fpf__anchors(const fpf_config *c, int Hp, int Wp, float *out) {
    int i, y, x, r;
    size_t k = 0;
    for (i = 0; i < 5; i++) {
        int f = c->backbone_strides[i], hf = Hp / f, wf = Wp / f;
        for (y = 0; y < hf; y++)
            for (x = 0; x < wf; x++)
                for (r = 0; r < FPF__A; r++) {
                    double sq = sqrt((double)c->anchor_ratios[r]);
                    double h = (double)c->anchor_scales[i] / sq, w = (double)c->anchor_scales[i] * sq;
                    double cy = (double)(y * f), cx = (double)(x * f);
                    out[k++] = (float)((cy - 0.5 * h) / (double)(Hp - 1));
                    out[k++] = (float)((cx - 0.5 * w) / (double)(Wp - 1));
                    out[k++] = (float)((cy + 0.5 * h - 1.0) / (double)(Hp - 1));
                    out[k++] = (float)((cx + 0.5 * w - 1.0) / (double)(Wp - 1));
                }
    }
}

/* float32 exp and log, correctly rounded: evaluated in double and rounded once. libm's expf
   and logf differ between C libraries in the last bit, and one bit in a box coordinate can move
   a crop_and_resize sample across the map edge (§7.2), zeroing a whole row. With these, results
   are the same on every platform. (TF itself used Eigen's approximations: within §15's tolerance.) */
static float fpf__expf(float x) { return (float)exp((double)x); }
static float fpf__logf(float x) { return (float)log((double)x); }
static float fpf__sigmoidf(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }

/* ---------------------------------------------------------------------------------------------
   4. Box arithmetic in TF's float32 order (§6.2 step 3, §6.4, §7). */

/* apply_box_deltas_graph: note y2 = y1' + h, not cy + h/2. */
static void fpf__apply_deltas(const float *box, const float *d, float *out) {
    float h = box[2] - box[0], w = box[3] - box[1];
    float cy = box[0] + 0.5f * h, cx = box[1] + 0.5f * w;
    cy += d[0] * h;
    cx += d[1] * w;
    h *= fpf__expf(d[2]);
    w *= fpf__expf(d[3]);
    out[0] = cy - 0.5f * h;
    out[1] = cx - 0.5f * w;
    out[2] = out[0] + h;
    out[3] = out[1] + w;
}

/* clip_boxes_graph: each coordinate to max(min(v, hi), lo) of the window. */
static void fpf__clip(float *b, const float *win) {
    int i;
    for (i = 0; i < 4; i++) {
        float lo = win[i % 2], hi = win[2 + i % 2], v = b[i] < hi ? b[i] : hi;
        b[i] = v > lo ? v : lo;
    }
}

/* TF NMS IoU: corners normalized, no +1, zero when either area <= 0. */
static float fpf__iou(const float *a, const float *b) {
    float ay1 = a[0] < a[2] ? a[0] : a[2], ay2 = a[0] < a[2] ? a[2] : a[0];
    float ax1 = a[1] < a[3] ? a[1] : a[3], ax2 = a[1] < a[3] ? a[3] : a[1];
    float by1 = b[0] < b[2] ? b[0] : b[2], by2 = b[0] < b[2] ? b[2] : b[0];
    float bx1 = b[1] < b[3] ? b[1] : b[3], bx2 = b[1] < b[3] ? b[3] : b[1];
    float area_a = (ay2 - ay1) * (ax2 - ax1), area_b = (by2 - by1) * (bx2 - bx1);
    float iy1, ix1, iy2, ix2, inter;
    if (area_a <= 0.0f || area_b <= 0.0f) return 0.0f;
    iy1 = ay1 > by1 ? ay1 : by1; ix1 = ax1 > bx1 ? ax1 : bx1;
    iy2 = ay2 < by2 ? ay2 : by2; ix2 = ax2 < bx2 ? ax2 : bx2;
    inter = (iy2 - iy1 > 0.0f ? iy2 - iy1 : 0.0f) * (ix2 - ix1 > 0.0f ? ix2 - ix1 : 0.0f);
    return inter / (area_a + area_b - inter);
}

/* ---------------------------------------------------------------------------------------------
   5. Ordering: top-k with ties to the lower index (TF TopKV2), and NMS (§6.4). */

typedef struct fpf__cand {
    float score;
    int idx;
} fpf__cand;

/* a before b: higher score first, then lower index. NaN sorts last. */
static int fpf__before(const fpf__cand *a, const fpf__cand *b) {
    if (a->score > b->score) return 1;
    if (a->score < b->score) return 0;
    if (a->score != a->score) return 0;
    if (b->score != b->score) return 1;
    return a->idx < b->idx;
}
static int fpf__cand_cmp(const void *pa, const void *pb) {
    const fpf__cand *a = (const fpf__cand *)pa, *b = (const fpf__cand *)pb;
    return fpf__before(a, b) ? -1 : fpf__before(b, a) ? 1 : 0;
}

/* Moves the k best of c[0..n) (by fpf__before) to the front, in order. Quickselect, then a sort
   of the k: the order is total, so the result does not depend on the algorithm. After `rounds`
   partitions the rest of the range is sorted instead, so scores that defeat the middle pivot
   (a model file chooses them) cost O(n log n), not O(n²). */
static void fpf__topk_rounds(fpf__cand *c, int n, int k, int rounds) {
    int lo = 0, hi = n - 1;
    while (k < n && lo < hi) {
        fpf__cand pivot = c[lo + (hi - lo) / 2], t;
        int i = lo, j = hi;
        if (rounds-- <= 0) { qsort(c + lo, (size_t)(hi - lo + 1), sizeof *c, fpf__cand_cmp); break; }
        while (i <= j) {
            while (fpf__before(&c[i], &pivot)) i++;
            while (fpf__before(&pivot, &c[j])) j--;
            if (i <= j) { t = c[i]; c[i] = c[j]; c[j] = t; i++; j--; }
        }
        if (k - 1 <= j) hi = j; else if (k - 1 >= i) lo = i; else break;
    }
    qsort(c, (size_t)(k < n ? k : n), sizeof *c, fpf__cand_cmp);
}
static void fpf__topk(fpf__cand *c, int n, int k) {
    int log2n = 0;
    while (log2n < 31 && (1 << log2n) < n) log2n++;
    fpf__topk_rounds(c, n, k, 3 * log2n + 8); /* a random pivot needs about 2.4 log2 n */
}

/* libstdc++ std::priority_queue<.., cmp = a.score < b.score> on a 0-based array (§6.4). */
static void fpf__heap_push(fpf__cand *h, int *len, fpf__cand v) {
    int hole = (*len)++, parent = (hole - 1) / 2;
    while (hole > 0 && h[parent].score < v.score) {
        h[hole] = h[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    h[hole] = v;
}
static fpf__cand fpf__heap_pop(fpf__cand *h, int *len) {
    fpf__cand top = h[0], v = h[*len - 1];
    int n = --(*len), hole = 0, child = 0, parent;
    while (child < (n - 1) / 2) {                      /* __adjust_heap: sift the hole down */
        child = 2 * (child + 1);
        if (h[child].score < h[child - 1].score) child--;
        h[hole] = h[child];
        hole = child;
    }
    if ((n & 1) == 0 && child == (n - 2) / 2 && n > 0) {
        child = 2 * (child + 1);
        h[hole] = h[child - 1];
        hole = child - 1;
    }
    parent = (hole - 1) / 2;                           /* __push_heap: sift v back up */
    while (hole > 0 && h[parent].score < v.score) {
        h[hole] = h[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    h[hole] = v;
    return top;
}

/* Greedy NMS over boxes[n][4] with scores[n]: candidates taken highest score first, each
   suppressed if IoU > thr (strict) with any kept box. Returns the count; sel gets indices in
   selection order. heap: scratch of n candidates. stable = 1 takes ties lowest index first. */
static int fpf__nms(const float *boxes, const float *scores, int n, int max_out, float thr,
                    int stable, fpf__cand *heap, int *sel) {
    int len = 0, n_sel = 0, i, j, next = 0;
    for (i = 0; i < n; i++) {
        fpf__cand c;
        c.score = scores[i]; c.idx = i;
        if (!(scores[i] > -FLT_MAX) && scores[i] != -FLT_MAX) continue; /* NaN: never a candidate */
        if (stable) heap[len++] = c; else fpf__heap_push(heap, &len, c);
    }
    if (stable) qsort(heap, (size_t)len, sizeof *heap, fpf__cand_cmp);
    while (n_sel < max_out && (stable ? next < len : len > 0)) {
        fpf__cand c = stable ? heap[next++] : fpf__heap_pop(heap, &len);
        int keep = 1;
        for (j = n_sel - 1; j >= 0 && keep; j--)
            if (fpf__iou(boxes + 4 * (size_t)c.idx, boxes + 4 * (size_t)sel[j]) > thr) keep = 0;
        if (keep) sel[n_sel++] = c.idx;
    }
    return n_sel;
}

/* ---------------------------------------------------------------------------------------------
   6. RoIAlign (§7): pyramid level per box, then TF crop_and_resize on that level. */

/* tf.round is banker's rounding: nearbyintf in the default mode, not roundf (0.5 -> 0, -0.5 -> 0). */
static int fpf__level_from_log2(int canonical, float lvl) {
    int k;
    if (!(lvl > -1e9f && lvl < 1e9f)) return 2; /* log(0) = -inf: TF's int cast gives INT_MIN -> 2 */
    k = canonical + (int)nearbyintf(lvl);
    return k < 2 ? 2 : k > 5 ? 5 : k;
}

/* Level = clamp(4 + round_half_even(log2(sqrt(h·w) / (224 / sqrt(A)))), 2, 5); zero area → 2. */
static int fpf__roi_level(const fpf_config *c, const float *box, float image_area) {
    float h = box[2] - box[0], w = box[3] - box[1];
    float v = sqrtf(h * w) / (c->roi_canonical_size / sqrtf(image_area));
    return fpf__level_from_log2(c->roi_canonical_level, fpf__logf(v) / fpf__logf(2.0f));
}

/* tf.image.crop_and_resize, bilinear, extrapolation 0, exact float32 order (§7.2):
   one sample per bin on an align-corners grid that includes both box edges. */
static void fpf__crop_and_resize__ref(fpf__map f, const float *box, int P, float *out) {
    float y1 = box[0], x1 = box[1], y2 = box[2], x2 = box[3];
    float hs = (y2 - y1) * (float)(f.h - 1) / (float)(P - 1);
    float ws = (x2 - x1) * (float)(f.w - 1) / (float)(P - 1);
    int i, j, ch;
    for (i = 0; i < P; i++) {
        float in_y = y1 * (float)(f.h - 1) + (float)i * hs;
        int top, bot;
        float ly;
        if (in_y < 0.0f || in_y > (float)(f.h - 1)) {
            memset(out + (size_t)i * P * f.c, 0, (size_t)P * f.c * sizeof(float));
            continue;
        }
        top = (int)floorf(in_y); bot = (int)ceilf(in_y); ly = in_y - (float)top;
        for (j = 0; j < P; j++) {
            float in_x = x1 * (float)(f.w - 1) + (float)j * ws, lx;
            float *o = out + ((size_t)i * P + j) * f.c;
            const float *tl, *tr, *bl, *br;
            int l, r;
            if (in_x < 0.0f || in_x > (float)(f.w - 1)) { memset(o, 0, (size_t)f.c * sizeof(float)); continue; }
            l = (int)floorf(in_x); r = (int)ceilf(in_x); lx = in_x - (float)l;
            tl = f.d + ((size_t)top * f.w + l) * f.ld; tr = f.d + ((size_t)top * f.w + r) * f.ld;
            bl = f.d + ((size_t)bot * f.w + l) * f.ld; br = f.d + ((size_t)bot * f.w + r) * f.ld;
            for (ch = 0; ch < f.c; ch++) {
                float t = tl[ch] + (tr[ch] - tl[ch]) * lx;
                float b = bl[ch] + (br[ch] - bl[ch]) * lx;
                o[ch] = t + (b - t) * ly;
            }
        }
    }
}

typedef struct fpf__roi_args {
    const fpf__pyr *F;
    const fpf_config *c;
    const float *boxes;
    int P, D;
    float area;
    float *out; /* [n][P][P][D] */
} fpf__roi_args;

static void fpf__roi_task(void *ctx, int i) {
    const fpf__roi_args *a = (const fpf__roi_args *)ctx;
    int lv = fpf__roi_level(a->c, a->boxes + 4 * (size_t)i, a->area) - 2;
    fpf__map f = fpf__mk(a->F->d[lv], a->F->h[lv], a->F->w[lv], a->D);
    f.ld = a->F->ld;
    fpf__crop_and_resize__ref(f, a->boxes + 4 * (size_t)i, a->P, a->out + (size_t)i * a->P * a->P * a->D);
}

static void fpf__roi_align(fpf_session *s, const fpf__pyr *F, const fpf_config *c, const float *boxes,
                           int n, int P, float *out) {
    fpf__roi_args a;
    a.F = F; a.c = c; a.boxes = boxes; a.P = P; a.D = fpf__depth(c); a.out = out;
    a.area = (float)((double)s->Hp * (double)s->Wp); /* image_meta's molded shape */
    fpf__parallel(&s->run, fpf__roi_task, &a, n);
}

/* The two softmax forms (§6.1, §8): Keras' activations.softmax on the 3-D RPN tensor divides,
   e / Σe; TF's kernel behind the 2-D head softmax multiplies by the reciprocal, e · (1 / Σe).
   They differ in the last bit for some inputs. in and out may be the same array. */
static void fpf__softmax_div(const float *in, float *out, int n) {
    float mx = in[0], sum = 0.0f;
    int j;
    for (j = 1; j < n; j++) mx = in[j] > mx ? in[j] : mx;
    for (j = 0; j < n; j++) { out[j] = fpf__expf(in[j] - mx); sum += out[j]; }
    for (j = 0; j < n; j++) out[j] = out[j] / sum;
}
static void fpf__softmax_recip(const float *in, float *out, int n) {
    float mx = in[0], sum = 0.0f, inv;
    int j;
    for (j = 1; j < n; j++) mx = in[j] > mx ? in[j] : mx;
    for (j = 0; j < n; j++) { out[j] = fpf__expf(in[j] - mx); sum += out[j]; }
    inv = 1.0f / sum;
    for (j = 0; j < n; j++) out[j] = out[j] * inv;
}

/* ---------------------------------------------------------------------------------------------
   7. Heads. The scratch of one heads pass, carved from the arena (measure with base NULL). */

typedef struct fpf__hbuf {
    float *rpn;          /* [FPF__BAND·w2][rpn_width]  shared RPN conv of one band of rows */
    float *rpnh;         /* [FPF__BAND·w2][6·3]  the band's fused RPN outputs (fpf__rpn_fused) */
    float *probs, *deltas; /* [A][2] logits, then probabilities in place; [A][4] */
    fpf__cand *cand;     /* [A]  scores for top-k, then the NMS heap */
    float *boxes, *scores; /* [k][4], [k]  decoded top-k proposals */
    int *sel;            /* [max(post, max_det)] */
    float *rois;         /* [post][4] */
    float *feat;         /* [max(post·P², max_det·MP²)][D]  RoIAlign output */
    float *fc1, *fc2;    /* [post][fc] */
    float *cls, *bbox;   /* [post][K], [post][4K]  logits → probabilities; deltas */
    float *refined;      /* [post][4] */
    int *keep, *cid, *rows, *dsel; /* [post] kept rows, class per row, rows of one class, NMS picks */
    float *cbox, *cscore; /* [post][4], [post] boxes and scores of one class */
    float *det;          /* [max_det][6] */
    float *m1, *m2, *mtmp; /* mask head, per batch of FPF__MASK_BATCH: [B·MP²][m] ×3 */
    float *mwT, *mlogits; /* mrcnn_mask's weights transposed [K][m]; an int8 mrcnn_mask's logits [B·MP²][K] */
    float *mmask;        /* [max_det][(2MP)²][K] */
    int *src;            /* [max_det] the proposal row of each detection */
} fpf__hbuf;

static void fpf__heads_layout(fpf__bump *b, const fpf_config *c, int Hp, int Wp, int max_det, fpf__hbuf *o) {
    size_t A = (size_t)fpf__anchor_count(Hp, Wp), post = (size_t)c->post_nms_rois;
    size_t k = A < (size_t)c->pre_nms_limit ? A : (size_t)c->pre_nms_limit;
    size_t P2 = (size_t)c->pool_size * c->pool_size, M2 = (size_t)c->mask_pool_size * c->mask_pool_size;
    size_t nfeat = post * P2 > (size_t)max_det * M2 ? post * P2 : (size_t)max_det * M2;
    size_t K = (size_t)c->num_classes, Mw = (size_t)c->mask_width, nsel = post > (size_t)max_det ? post : (size_t)max_det;
    o->rpn = FPF__TAKEF(b, (size_t)FPF__BAND * (Wp / 4) * c->rpn_width);
    o->rpnh = FPF__TAKEF(b, (size_t)FPF__BAND * (Wp / 4) * 6 * FPF__A);
    o->probs = FPF__TAKEF(b, A * 2); o->deltas = FPF__TAKEF(b, A * 4);
    o->cand = (fpf__cand *)fpf__take(b, (A > post ? A : post) * sizeof(fpf__cand));
    o->src = FPF__TAKEI(b, (size_t)max_det);
    o->boxes = FPF__TAKEF(b, k * 4); o->scores = FPF__TAKEF(b, k);
    o->sel = FPF__TAKEI(b, nsel); o->rois = FPF__TAKEF(b, post * 4);
    o->feat = FPF__TAKEF(b, nfeat * (size_t)fpf__depth(c));
    o->fc1 = FPF__TAKEF(b, post * c->fc_width); o->fc2 = FPF__TAKEF(b, post * c->fc_width);
    o->cls = FPF__TAKEF(b, post * K); o->bbox = FPF__TAKEF(b, post * 4 * K);
    o->refined = FPF__TAKEF(b, post * 4); o->keep = FPF__TAKEI(b, post);
    o->cid = FPF__TAKEI(b, post); o->rows = FPF__TAKEI(b, post); o->dsel = FPF__TAKEI(b, post);
    o->cbox = FPF__TAKEF(b, post * 4); o->cscore = FPF__TAKEF(b, post);
    o->det = FPF__TAKEF(b, (size_t)max_det * 6);
    o->m1 = FPF__TAKEF(b, FPF__MASK_BATCH * M2 * Mw); o->m2 = FPF__TAKEF(b, FPF__MASK_BATCH * M2 * Mw);
    o->mtmp = FPF__TAKEF(b, FPF__MASK_BATCH * M2 * Mw);
    o->mwT = FPF__TAKEF(b, K * Mw); o->mlogits = FPF__TAKEF(b, FPF__MASK_BATCH * M2 * K);
    o->mmask = FPF__TAKEF(b, (size_t)max_det * 4 * M2 * K);
}

/* RPN (§6.1): per level a shared 3×3 conv + ReLU, then 1×1 convs to 2·3 logits and 3·4 deltas;
   the level outputs are concatenated P2 first, matching the anchor order. Softmax e / Σe.
   A level runs a band of FPF__BAND rows at a time, fused (fpf__rpn_fused) or, where that cannot
   run, on the plain path fpf__rpn_band__ref; both give the same bits. */

/* The plain path, the fused one's twin: the band's 512-deep map whole, then each output conv
   reads all of it, then the softmax in place. probs and deltas: the band's first anchor. */
static void fpf__rpn_band__ref(const fpf__runner *r, const fpf__heads *h, fpf__map in, int y0, fpf__map mid,
                               float *probs, float *deltas) {
    size_t i, n = (size_t)mid.h * mid.w * FPF__A;
    fpf__conv_band(r, &h->rpn_conv, in, 0, mid, y0, 1, FPF__RELU, NULL);                        /* 3×3, ReLU */
    fpf__conv_run(r, &h->rpn_class, mid, fpf__mk(probs, mid.h, mid.w, 2 * FPF__A), 1, FPF__LINEAR, NULL); /* [bh, W, 2·3] */
    fpf__conv_run(r, &h->rpn_bbox, mid, fpf__mk(deltas, mid.h, mid.w, 4 * FPF__A), 1, FPF__LINEAR, NULL); /* [bh, W, 4·3] */
    for (i = 0; i < n; i++) fpf__softmax_div(probs + 2 * i, probs + 2 * i, 2);
}

/* The fused path: a task makes rows [y0, y1) × one tile of columns of the 512-deep map (all its
   channel blocks, fp32 or int8), then at once, while that tile is in cache, the 18 channels of
   rpn_head over it, then the tile's softmax and deltas. The map is never read back from memory. */
typedef struct fpf__rpn_args {
    fpf__conv_args c;     /* rpn_conv on the band: 3×3, ReLU, into mid (an fp32 layer) */
    fpf__qargs q;         /* the same for an int8 rpn_conv (q.q set), its input quantized */
    fpf__conv_args h;     /* rpn_head: 1×1, mid → [bh, W, 6·3] */
    float *probs, *deltas;
    int tile, rpt;        /* columns and rows per task */
} fpf__rpn_args;

/* rpn_head's outputs of rows [y0, y1) × columns [xs, xe) (head, [bh·W][6·3]) to probs and deltas. */
static void fpf__rpn_split(const float *head, int W, int y0, int y1, int xs, int xe, float *probs, float *deltas) {
    int y, x, j;
    for (y = y0; y < y1; y++)
        for (x = xs; x < xe; x++) {
            size_t px = (size_t)y * W + x;
            const float *v = head + px * 6 * FPF__A;                         /* 2·3 logits, 4·3 deltas */
            for (j = 0; j < FPF__A; j++) fpf__softmax_div(v + 2 * j, probs + (px * FPF__A + j) * 2, 2);
            memcpy(deltas + px * 4 * FPF__A, v + 2 * FPF__A, 4 * FPF__A * sizeof(float));
        }
}

static void fpf__rpn_task(void *ctx, int task) {
    const fpf__rpn_args *a = (const fpf__rpn_args *)ctx;
    int W = a->h.out.w, tiles = (W + a->tile - 1) / a->tile;
    int y0 = task / tiles * a->rpt, y1 = y0 + a->rpt < a->h.out.h ? y0 + a->rpt : a->h.out.h;
    int xs = task % tiles * a->tile, xe = xs + a->tile < W ? xs + a->tile : W;
    if (a->q.q) fpf__qconv_tile(&a->q, y0, y1, xs, xe, 0, (a->c.k->cout + a->q.kern->cb - 1) / a->q.kern->cb);
    else fpf__conv_tile(&a->c, y0, y1, xs, xe, 0, (a->c.k->cout + a->c.kern->cb - 1) / a->c.kern->cb);
    fpf__conv_tile(&a->h, y0, y1, xs, xe, 0, (a->h.k->cout + a->h.kern->cb - 1) / a->h.kern->cb);
    fpf__rpn_split(a->h.out.d, W, y0, y1, xs, xe, a->probs, a->deltas);
}

/* The Winograd path (an fp32 rpn_conv with U, a session with wbuf): the band's 512-deep map as one
   Winograd conv whose tasks, once their tiles have all 512 channels (still in cache), run rpn_head
   over those pixels, then their softmax and deltas. Same bits as fpf__rpn_band__ref with Winograd. */
static void fpf__rpn_wino_after(const fpf__wino_args *w, int l0, int n) {
    const fpf__rpn_args *r = (const fpf__rpn_args *)w->after_ctx;
    int H = r->h.out.h, W = r->h.out.w, img, y, x, l = 0;
    fpf__wino_tile(w, l0, &img, &y, &x);
    while (l < n) {                            /* the tiles' runs along each row of tiles */
        int cnt = (W - x + 1) / 2 < n - l ? (W - x + 1) / 2 : n - l;
        int xe = x + 2 * cnt < W ? x + 2 * cnt : W, y1 = y + 2 < H ? y + 2 : H;
        fpf__conv_tile(&r->h, y, y1, x, xe, 0, (r->h.k->cout + r->h.kern->cb - 1) / r->h.kern->cb);
        fpf__rpn_split(r->h.out.d, W, y, y1, x, xe, r->probs, r->deltas);
        l += cnt; x = 0; y += 2;
    }
}

static int fpf__rpn_wino(const fpf__runner *r, const fpf__heads *h, fpf__map in, int y0, fpf__map mid,
                         float *head, float *probs, float *deltas) {
    fpf__rpn_args a;
    if (!fpf__wino_layer(&h->rpn_conv) || !r || !r->wbuf || r->observe || h->rpn_head.cout != 6 * FPF__A || h->rpn_head.cin != mid.c) return 0;
    memset(&a, 0, sizeof a);
    a.c.k = &h->rpn_conv; a.c.in = in; a.c.out = mid; a.c.stride = 1; a.c.pad = 1; a.c.flags = FPF__RELU; a.c.y0 = y0;
    a.c.kern = r->kern ? r->kern : &fpf__kernels__scalar;
    a.h.k = &h->rpn_head; a.h.in = mid; a.h.out = fpf__mk(head, mid.h, mid.w, h->rpn_head.cout);
    a.h.stride = 1; a.h.flags = FPF__LINEAR; a.h.kern = a.c.kern;
    a.probs = probs; a.deltas = deltas;
    return fpf__wino_conv2d_then(r, &a.c, fpf__rpn_wino_after, &a);      /* [bh, W, 512] → [bh·W·3, 2], [bh·W·3, 4] */
}

/* 0 where the fused path cannot run: no rpn_head (an int8 output conv), an unpacked layer or no
   int8 buffer (tests), calibration (it observes every conv's input). head: [bh·W][6·3] scratch. */
static int fpf__rpn_fused(const fpf__runner *r, const fpf__heads *h, fpf__map in, int y0, fpf__map mid,
                          float *head, float *probs, float *deltas) {
    const fpf__conv *k = &h->rpn_conv;
    fpf__rpn_args a;
    int tiles;
    if (h->rpn_head.cout != 6 * FPF__A || h->rpn_head.cin != mid.c || (r && r->observe) || (!k->q && !k->wp)) return 0;
    memset(&a, 0, sizeof a);
    a.c.k = k; a.c.in = in; a.c.out = mid; a.c.stride = 1; a.c.pad = (k->kh - 1) / 2;
    a.c.flags = FPF__RELU; a.c.y0 = y0;
    a.c.kern = r && r->kern ? r->kern : &fpf__kernels__scalar;
    if (k->q && !fpf__qprep(r, &a.c, &a.q)) return 0;           /* quantizes the band's input rows */
    a.h.k = &h->rpn_head; a.h.in = mid; a.h.out = fpf__mk(head, mid.h, mid.w, h->rpn_head.cout);
    a.h.stride = 1; a.h.flags = FPF__LINEAR; a.h.kern = a.c.kern;
    a.probs = probs; a.deltas = deltas;
    a.tile = k->q ? FPF__QTILE_W : fpf__tile_w(k);
    a.rpt = fpf__rows_per_task(mid.h, mid.w);                   /* as fpf__conv2d */
    tiles = (mid.w + a.tile - 1) / a.tile;
    fpf__parallel(r, fpf__rpn_task, &a, (mid.h + a.rpt - 1) / a.rpt * tiles);
    return 1;
}

/* One level in bands of rows: probs [H·W·3][2], deltas [H·W·3][4]; mid [FPF__BAND·W][rpn_width]
   and head [FPF__BAND·W][6·3] scratch. plain: the plain path only (tests). */
static void fpf__rpn_level(const fpf__runner *r, const fpf__heads *h, fpf__map in, float *mid, float *head,
                           float *probs, float *deltas, int plain) {
    int y0;
    for (y0 = 0; y0 < in.h; y0 += FPF__BAND) { /* the rpn_width-deep map one band of rows at a time */
        int bh = in.h - y0 < FPF__BAND ? in.h - y0 : FPF__BAND;
        size_t row = (size_t)y0 * in.w * FPF__A;
        fpf__map m = fpf__mk(mid, bh, in.w, h->rpn_conv.cout);                    /* [bh, W, 512] */
        if (plain || (!fpf__rpn_wino(r, h, in, y0, m, head, probs + row * 2, deltas + row * 4) &&
                      !fpf__rpn_fused(r, h, in, y0, m, head, probs + row * 2, deltas + row * 4)))
            fpf__rpn_band__ref(r, h, in, y0, m, probs + row * 2, deltas + row * 4);
    }                                                                             /* [bh·W·3, 2], [bh·W·3, 4] */
}

static void fpf__rpn(fpf_session *s, const fpf__heads *h, const fpf_config *c, const fpf__pyr *F, fpf__hbuf *o) {
    size_t off = 0, A;
    int lv;
    for (lv = 0; lv < 5; lv++) {
        fpf__map in = fpf__mk(F->d[lv], F->h[lv], F->w[lv], fpf__depth(c));
        in.ld = F->ld;
        fpf__rpn_level(&s->run, h, in, o->rpn, o->rpnh, o->probs + off * 2, o->deltas + off * 4, 0);
        off += (size_t)in.h * in.w * FPF__A;
    }
    A = off;
    fpf__dump(s, "rpn_class", o->probs, 2, (int)A, 2, 0, 0, 0);
    fpf__dump(s, "rpn_bbox", o->deltas, 2, (int)A, 4, 0, 0, 0);
}

/* ProposalLayer (§6.2): top 6000 by foreground score, apply deltas·std, clip to (0,0,1,1),
   NMS 0.7 to 500, zero-pad. Returns the number of real proposals. */
static int fpf__proposals(fpf_session *s, const fpf_config *c, fpf__hbuf *o, int A) {
    static const float unit[4] = {0.0f, 0.0f, 1.0f, 1.0f};
    int k = A < c->pre_nms_limit ? A : c->pre_nms_limit, i, j, n;
    for (i = 0; i < A; i++) { o->cand[i].score = o->probs[2 * i + 1]; o->cand[i].idx = i; }
    fpf__topk(o->cand, A, k);
    for (i = 0; i < k; i++) {
        int a = o->cand[i].idx;
        float d[4];
        for (j = 0; j < 4; j++) d[j] = o->deltas[4 * (size_t)a + j] * c->rpn_bbox_std[j];
        fpf__apply_deltas(s->anchors + 4 * (size_t)a, d, o->boxes + 4 * (size_t)i);
        fpf__clip(o->boxes + 4 * (size_t)i, unit);
        o->scores[i] = o->cand[i].score;
    }
    n = fpf__nms(o->boxes, o->scores, k, c->post_nms_rois, c->rpn_nms_threshold,
                 s->opt.stable_nms_ties, o->cand, o->sel);
    memset(o->rois, 0, (size_t)c->post_nms_rois * 4 * sizeof(float));
    for (i = 0; i < n; i++) memcpy(o->rois + 4 * (size_t)i, o->boxes + 4 * (size_t)o->sel[i], 4 * sizeof(float));
    fpf__dump(s, "rpn_rois", o->rois, 2, c->post_nms_rois, 4, 0, 0, 0);
    return n;
}

/* Box head (§8) on rows [0, n): the 7×7 "valid" conv is an FC over the (y, x, c)-flattened crop.
   Rows past n_real are zero-padded proposals: identical inputs, so computed once and copied. */
static void fpf__box_head(fpf_session *s, const fpf__heads *h, const fpf_config *c, fpf__hbuf *o, int n_real) {
    int R = c->post_nms_rois, n = n_real < R ? n_real + 1 : R, i, K = c->num_classes;
    fpf__conv fc1 = h->cls_conv1;
    size_t flat = (size_t)c->pool_size * c->pool_size * fpf__depth(c);
    fpf__map feat = fpf__mk(o->feat, 1, n, (int)flat);                 /* [n, 7·7·D] */
    fpf__map fc1x = fpf__mk(o->fc1, 1, n, c->fc_width), fc2x = fpf__mk(o->fc2, 1, n, c->fc_width); /* [n, 1024] */
    fc1.kh = fc1.kw = 1; fc1.cin = (int)flat;
    fpf__conv_run(&s->run, &fc1, feat, fc1x, 1, FPF__RELU, NULL);                      /* FC 1024, BN, ReLU */
    fpf__conv_run(&s->run, &h->cls_conv2, fc1x, fc2x, 1, FPF__RELU, NULL);             /* FC 1024, BN, ReLU */
    fpf__conv_run(&s->run, &h->cls_logits, fc2x, fpf__mk(o->cls, 1, n, K), 1, FPF__LINEAR, NULL);   /* [n, K] */
    fpf__conv_run(&s->run, &h->bbox_fc, fc2x, fpf__mk(o->bbox, 1, n, 4 * K), 1, FPF__LINEAR, NULL); /* [n, 4K] */
    for (i = n; i < R; i++) {
        memcpy(o->cls + (size_t)i * K, o->cls + (size_t)(n - 1) * K, (size_t)K * sizeof(float));
        memcpy(o->bbox + (size_t)i * 4 * K, o->bbox + (size_t)(n - 1) * 4 * K, (size_t)4 * K * sizeof(float));
    }
    for (i = 0; i < R; i++) fpf__softmax_recip(o->cls + (size_t)i * K, o->cls + (size_t)i * K, K);
    fpf__dump(s, "mrcnn_class", o->cls, 2, R, K, 0, 0, 0);
    fpf__dump(s, "mrcnn_bbox", o->bbox, 3, R, K, 4, 0, 0);
}

/* Detection layer (§9): per row argmax class, refine with that class's deltas, clip to the window;
   keep class > 0 with score >= 0.7f (ascending rows, as tf.sets.set_intersection). */
static int fpf__refine(fpf_session *s, const fpf_config *c, fpf__hbuf *o, const float *window) {
    int R = c->post_nms_rois, K = c->num_classes, i, j, n_keep = 0;
    float thr = s->opt.det_min_confidence > 0.0f ? s->opt.det_min_confidence : c->det_min_confidence;
    for (i = 0; i < R; i++) {
        const float *p = o->cls + (size_t)i * K;
        float d[4];
        int best = 0;
        for (j = 1; j < K; j++) if (p[j] > p[best]) best = j;   /* argmax: first maximum wins */
        o->cid[i] = best;
        for (j = 0; j < 4; j++) d[j] = o->bbox[((size_t)i * K + best) * 4 + j] * c->bbox_std[j];
        fpf__apply_deltas(o->rois + 4 * (size_t)i, d, o->refined + 4 * (size_t)i);
        fpf__clip(o->refined + 4 * (size_t)i, window);
        if (best > 0 && p[best] >= thr) o->keep[n_keep++] = i;
    }
    return n_keep;
}

/* Then per class, in order of first appearance, NMS 0.3 over that class's kept rows (taken in
   ascending order); the union is re-sorted ascending and the top max_det by score are kept
   (ties to the lower row). Writes detections [max_det][6], zero-padded; returns N0. */
static int fpf__detect(fpf_session *s, const fpf_config *c, fpf__hbuf *o, const float *window, int *src_roi,
                       int *n_over) {
    int K = c->num_classes, n_keep = fpf__refine(s, c, o, window), i, j, n_nms = 0, n_final;
    *n_over = 0;
    for (i = 0; i < n_keep; i++) {
        int ci = o->cid[o->keep[i]], seen = 0, n_cls = 0, n_sel;
        for (j = 0; j < i; j++) seen |= o->cid[o->keep[j]] == ci;
        if (seen) continue;
        for (j = 0; j < n_keep; j++)
            if (o->cid[o->keep[j]] == ci) {
                memcpy(o->cbox + 4 * (size_t)n_cls, o->refined + 4 * (size_t)o->keep[j], 4 * sizeof(float));
                o->cscore[n_cls] = o->cls[(size_t)o->keep[j] * K + ci];
                o->rows[n_cls++] = o->keep[j];
            }
        n_sel = fpf__nms(o->cbox, o->cscore, n_cls, n_cls, c->det_nms_threshold, s->opt.stable_nms_ties, o->cand, o->dsel);
        if (n_sel > s->max_det) { *n_over += n_sel - s->max_det; n_sel = s->max_det; } /* greedy: same first picks */
        for (j = 0; j < n_sel; j++) o->sel[n_nms++] = o->rows[o->dsel[j]];
    }
    for (i = 0; i < n_nms; i++) {
        o->cand[i].idx = o->sel[i];
        o->cand[i].score = o->cls[(size_t)o->sel[i] * K + o->cid[o->sel[i]]];
    }
    n_final = n_nms < s->max_det ? n_nms : s->max_det;
    *n_over += n_nms - n_final;
    fpf__topk(o->cand, n_nms, n_final);
    memset(o->det, 0, (size_t)s->max_det * 6 * sizeof(float));
    for (i = 0; i < n_final; i++) {
        int r = o->cand[i].idx;
        memcpy(o->det + 6 * (size_t)i, o->refined + 4 * (size_t)r, 4 * sizeof(float));
        o->det[6 * (size_t)i + 4] = (float)o->cid[r];
        o->det[6 * (size_t)i + 5] = o->cand[i].score;
        src_roi[i] = r;
    }
    fpf__dump(s, "detections", o->det, 2, s->max_det, 6, 0, 0, 0);
    return n_final;
}

/* Mask head (§10.1) on the N0 detection boxes only (the padded rows are discarded anyway), in
   batches of FPF__MASK_BATCH detections. Every conv sees a batch of 14×14 maps as one flat axis of
   pixels (each map zero-padded on its own), so its pixel blocks run on across rows and maps; the
   deconv's taps feed mrcnn_mask (1×1 to K, sigmoid) directly, pixel by pixel, with no 28×28×256
   map in between. An int8 conv whose reader is int8 too writes only the u8 that reader needs (its
   floats have no other reader), as fpf__stage does; int8_requantize = 1 passes floats instead. */
static void fpf__mask_head(fpf_session *s, const fpf__heads *h, const fpf_config *c, const fpf__pyr *F,
                           fpf__hbuf *o, int n0) {
    int MP = c->mask_pool_size, D = fpf__depth(c), Mw = c->mask_width, K = c->num_classes, i, l, co;
    int chain = !s->opt.int8_requantize && !s->run.observe;
    size_t M2 = (size_t)MP * MP, ci;
    const fpf__conv *ko = &h->mask_out;
    for (i = 0; i < n0; i++) memcpy(o->rois + 4 * (size_t)i, o->det + 6 * (size_t)i, 4 * sizeof(float));
    fpf__roi_align(s, F, c, o->rois, n0, MP, o->feat);
    fpf__dump(s, "mask_feat", o->feat, 4, n0, MP, MP, D, 0);
    if (!ko->q) /* mrcnn_mask's weights transposed for the narrow kernel: [K][Mw] */
        for (co = 0; co < K; co++)
            for (ci = 0; ci < (size_t)Mw; ci++)
                o->mwT[(size_t)co * Mw + ci] = fpf__weight(ko, ci, co);
    for (i = 0; i < n0; i += FPF__MASK_BATCH) {
        int nb = n0 - i < FPF__MASK_BATCH ? n0 - i : FPF__MASK_BATCH;
        fpf__map x = fpf__mk(o->feat + (size_t)i * M2 * D, MP, MP, D);           /* nb × [14, 14, D] */
        const uint8_t *x8 = NULL;                                                /* x as u8 (a chain) */
        float *out = o->mmask + (size_t)i * 4 * M2 * K;                          /* [nb·28, 28, K] */
        for (l = 0; l < 4; l++) {                                                /* 4 × (3×3 conv, BN, ReLU) */
            const fpf__conv *k = &h->mask_conv[l], *nxt = l < 3 ? &h->mask_conv[l + 1] : &h->mask_deconv;
            float *buf = l % 2 ? o->m2 : o->m1;
            fpf__conv_args a;
            fpf__map y = fpf__mk(buf, MP, MP, Mw);                               /* nb × [14, 14, Mw] */
            memset(&a, 0, sizeof a);
            a.k = k; a.in = x; a.out = y; a.stride = 1; a.pad = 1; a.flags = FPF__RELU; a.flat = 1;
            a.batch = nb; a.in_bs = M2 * x.c; a.out_bs = M2 * Mw; a.qin = x8;
            if (chain && k->q && nxt->q) { a.qout = (uint8_t *)buf; a.qout_s = nxt->q->in_scale; a.qout_z = nxt->q->in_zero; }
            fpf__conv2d(&s->run, &a);
            x = y; x8 = a.qout;
        }
        x.h = MP * nb;                                                           /* [nb·14, 14, Mw] */
        fpf__deconv2x2(&s->run, &h->mask_deconv, x, x8, fpf__mk(out, 2 * MP * nb, 2 * MP, K), o->mtmp, ko,
                       ko->q ? NULL : o->mwT, o->mlogits);                      /* 2×2/2 deconv, ReLU; 1×1 to K, sigmoid */
    }
    fpf__dump(s, "mrcnn_mask", o->mmask, 4, n0, 2 * MP, 2 * MP, K, 0);
}

/* denorm_boxes: numpy float64 round_half_even(b · [h−1, w−1, h−1, w−1] + [0, 0, 1, 1]). */
static void fpf__to_pixels(const float nb[4], int h, int w, int px[4]) {
    int j;
    for (j = 0; j < 4; j++)
        px[j] = (int)nearbyint((double)nb[j] * (double)((j % 2 ? w : h) - 1) + (j >= 2 ? 1.0 : 0.0));
}

/* Unmolding (§10.2 steps 3–5, with the padding window of the header comment): normalized boxes
   → window → pixels with float64 round-half-even; zero-area boxes are dropped. */
static void fpf__unmold(fpf_session *s, const fpf_config *c, const fpf__hbuf *o, int n0,
                        const float *window, const int *src_roi, int n_real, fpf__results *res) {
    int i, j, MP2 = 4 * c->mask_pool_size * c->mask_pool_size, K = c->num_classes;
    float wh = window[2] - window[0], ww = window[3] - window[1];
    res->n = 0;
    for (i = 0; i < n0; i++) {
        const float *d = o->det + 6 * (size_t)i;
        float nb[4];
        int px[4];
        fpf_instance *in = &res->inst[res->n];
        nb[0] = (d[0] - window[0]) / wh; nb[1] = (d[1] - window[1]) / ww;
        nb[2] = (d[2] - window[0]) / wh; nb[3] = (d[3] - window[1]) / ww;
        fpf__to_pixels(nb, s->h, s->w, px);
        if ((long long)(px[2] - px[0]) * (px[3] - px[1]) <= 0) continue;
        if (s->opt.drop_padding_detections && src_roi[i] >= n_real) continue;
        in->y1 = px[0]; in->x1 = px[1]; in->y2 = px[2]; in->x2 = px[3];
        in->class_id = (int)d[4];
        in->score = d[5];
        in->from_padding = src_roi[i] >= n_real;
        in->threshold = c->mask_threshold;
        in->mask28 = res->masks + (size_t)res->n * MP2;
        in->mask_min = in->mask_max = o->mmask[(size_t)i * MP2 * K + in->class_id];
        for (j = 0; j < MP2; j++) {
            float v = o->mmask[((size_t)i * MP2 + j) * K + in->class_id];
            res->masks[(size_t)res->n * MP2 + j] = v;
            in->mask_min = v < in->mask_min ? v : in->mask_min;
            in->mask_max = v > in->mask_max ? v : in->mask_max;
        }
        in->mask_size = 2 * c->mask_pool_size;
        res->n++;
    }
}

/* skimage-0.14 resize (order 1, mode constant, float64, half-pixel centres, no anti-aliasing)
   of the mask to the box, thresholded >= 0.5 (§10.2 step 6). Outside the grid counts as 0. */
static double fpf__mask_at(const float *m, int n, long r, long c) {
    return r < 0 || c < 0 || r >= n || c >= n ? 0.0 : (double)m[r * n + c];
}

FPF_DEF int fpf_instance_mask_pixel(const fpf_instance *in, int r, int c) {
    int h = in->y2 - in->y1, w = in->x2 - in->x1, n = in->mask_size;
    double sr = ((double)n / h) * (r + 0.5) - 0.5, sc = ((double)n / w) * (c + 0.5) - 0.5;
    double dr = sr - floor(sr), dc = sc - floor(sc), v;
    long r0 = (long)floor(sr), r1 = (long)ceil(sr), c0 = (long)floor(sc), c1 = (long)ceil(sc);
    double top = (1 - dc) * fpf__mask_at(in->mask28, n, r0, c0) + dc * fpf__mask_at(in->mask28, n, r0, c1);
    double bot = (1 - dc) * fpf__mask_at(in->mask28, n, r1, c0) + dc * fpf__mask_at(in->mask28, n, r1, c1);
    v = (1 - dr) * top + dr * bot;
    /* resize(clip=True): clip to [min, max] of the mask, but when 0 (cval) lies outside that
       range, pixels that are exactly 0 stay 0 (skimage 0.14 _clip_warp_output). So the clip does
       matter: with min > 0 the zero-attenuated edges are lifted to min (weights/reference/NOTES.md 1). */
    if (!(in->mask_min <= 0.0f && 0.0f <= in->mask_max) && v == 0.0) return 0.0 >= (double)in->threshold;
    v = v < (double)in->mask_min ? (double)in->mask_min : v > (double)in->mask_max ? (double)in->mask_max : v;
    return v >= (double)in->threshold;
}

FPF_DEF long fpf_instance_paste(const fpf_instance *in, uint8_t *dst, size_t stride) {
    int r, c;
    long count = 0;
    if (!in || !dst || !in->mask28) return 0;
    for (r = 0; r < in->y2 - in->y1; r++)
        for (c = 0; c < in->x2 - in->x1; c++) {
            int on = fpf_instance_mask_pixel(in, r, c);
            dst[(size_t)r * stride + c] = (uint8_t)on;
            count += on;
        }
    return count;
}

/* ---------------------------------------------------------------------------------------------
   8. The forward pass: the paper's Fig 2/3, one model at a time. */

/* Backbone + FPN of every input the variant has, fused into F2..F6 (§4). */
static void fpf__towers(fpf_session *s, const fpf_model *m, const fpf_input *in, fpf__pyr *F) {
    const fpf_config *c = &m->cfg;
    int Fw = c->fpn_width, i, y, x;
    switch (c->variant) {
    case FPF_VARIANT_CORES:
    case FPF_VARIANT_WITHOUT_NUCLEUS:                  /* one tower, one input */
        fpf__mold(s, c, c->variant == FPF_VARIANT_CORES ? &in->nucleus : &in->cell, 0, 1);
        fpf__dump(s, "mold", s->mold, 3, s->Hp, s->Wp, 1, 0, 0);
        fpf__tower_run(s, &m->tower, c, 1, F, 0, 0, "cell");
        break;
    case FPF_VARIANT_WITH_NUCLEUS:                     /* one tower, input [cell, nucleus] */
        fpf__mold(s, c, &in->cell, 0, 2);
        fpf__mold(s, c, &in->nucleus, 1, 2);
        fpf__dump(s, "mold", s->mold, 3, s->Hp, s->Wp, 2, 0, 0);
        fpf__tower_run(s, &m->tower, c, 2, F, 0, 0, "cell");
        break;
    default:                                           /* FPF: nucleus tower, then cell tower */
        if (s->share && m == s->model) {               /* the nucleus model's pyramid is this tower's */
            for (i = 0; i < 4; i++)
                for (y = 0; y < F->h[i]; y++)
                    for (x = 0; x < F->w[i]; x++)
                        memcpy(F->d[i] + ((size_t)y * F->w[i] + x) * F->ld + (c->merge == 2 ? Fw : 0),
                               s->Pn.d[i] + ((size_t)y * F->w[i] + x) * s->Pn.ld, (size_t)Fw * sizeof(float));
        } else {
            fpf__mold(s, c, &in->nucleus, 0, 1);
            fpf__dump(s, "mold_nucleus", s->mold, 3, s->Hp, s->Wp, 1, 0, 0);
            fpf__tower_run(s, &m->core, c, 1, F, c->merge == 2 ? Fw : 0, 0, "nucleus");
        }
        fpf__mold(s, c, &in->cell, 0, 1);
        fpf__dump(s, "mold", s->mold, 3, s->Hp, s->Wp, 1, 0, 0);
        /* concat writes channels [0, Fw) beside the nucleus half; add accumulates onto it */
        fpf__tower_run(s, &m->tower, c, 1, F, 0, c->merge == 1, "cell");
        break;
    }
    fpf__p6(F, fpf__depth(c));                         /* P6 = P5[::2, ::2], after fusion */
    for (i = 0; i < 5; i++) {
        char name[4] = {'F', (char)('2' + i), 0, 0};
        fpf__dump(s, name, F->d[i], 3, F->h[i], F->w[i], fpf__depth(c), 0, F->ld);
    }
}

/* Padded proposals all pool the same crop; the heads compute it once. For the dump, copy it out. */
static void fpf__dump_roi_feat(fpf_session *s, const fpf_config *c, fpf__hbuf *o, int n_props) {
    size_t row = (size_t)c->pool_size * c->pool_size * fpf__depth(c);
    int i;
    for (i = n_props + 1; i < c->post_nms_rois; i++) memcpy(o->feat + (size_t)i * row, o->feat + (size_t)n_props * row, row * sizeof(float));
    fpf__dump(s, "roi_feat", o->feat, 4, c->post_nms_rois, c->pool_size, c->pool_size, fpf__depth(c), 0);
}

/* The model's config with this run's options applied (fpf_options.max_proposals). */
static fpf_config fpf__run_config(const fpf_model *m, const fpf_options *opt) {
    fpf_config c = m->cfg;
    if (opt && opt->max_proposals > 0) c.post_nms_rois = opt->max_proposals;
    return c;
}

/* The whole network for model m, writing its pyramid into F and its instances into res. */
static fpf_result fpf__model_pass(fpf_session *s, const fpf_model *m, const fpf_input *in,
                                  fpf__pyr *F, fpf__results *res) {
    fpf_config run_cfg = fpf__run_config(m, &s->opt);
    const fpf_config *c = &run_cfg;
    fpf__bump b;
    fpf__hbuf o;
    float window[4];
    int A = fpf__anchor_count(s->Hp, s->Wp), n_props, n0;
    /* window = norm_boxes([0, 0, h, w], (Hp, Wp)): the real image inside the padded one */
    window[0] = 0.0f; window[1] = 0.0f;
    window[2] = (float)((double)(s->h - 1) / (double)(s->Hp - 1));
    window[3] = (float)((double)(s->w - 1) / (double)(s->Wp - 1));
    fpf__towers(s, m, in, F);                                          /* backbone, FPN, fusion */
    if (fpf__aborted(s)) return fpf__err(s, FPF_ERR_ABORTED, "aborted after the backbone", "");
    b.base = s->arena; b.used = 0;
    fpf__heads_layout(&b, c, s->Hp, s->Wp, s->max_det, &o);
    fpf__anchors(c, s->Hp, s->Wp, s->anchors);                         /* [A, 4] */
    fpf__dump(s, "anchors", s->anchors, 2, A, 4, 0, 0, 0);
    fpf__rpn(s, &m->heads, c, F, &o);                                  /* [A, 2] probs, [A, 4] deltas */
    n_props = fpf__proposals(s, c, &o, A);                             /* [500, 4] rois */
    if (fpf__aborted(s)) return fpf__err(s, FPF_ERR_ABORTED, "aborted after the RPN", "");
    fpf__roi_align(s, F, c, o.rois, n_props < c->post_nms_rois ? n_props + 1 : n_props, c->pool_size, o.feat);
    if (s->opt.stage) fpf__dump_roi_feat(s, c, &o, n_props);          /* [500, 7, 7, D] */
    fpf__box_head(s, &m->heads, c, &o, n_props);                       /* [500, 2], [500, 2, 4] */
    n0 = fpf__detect(s, c, &o, window, o.src, &res->over);             /* [200, 6] */
    fpf__mask_head(s, &m->heads, c, F, &o, n0);                        /* [N0, 28, 28, 2] */
    fpf__unmold(s, c, &o, n0, window, o.src, n_props, res);            /* pixel boxes, masks */
    return fpf__aborted(s) ? fpf__err(s, FPF_ERR_ABORTED, "aborted after the heads", "") : FPF_OK;
}

/* ---------------------------------------------------------------------------------------------
   9. Sessions: one layout function computes the workspace for the size query and for init. */

static int fpf__ceil64(int v) { return (v + 63) / 64 * 64; }

static void fpf__pyr_layout(fpf__bump *b, int Hp, int Wp, int ch, fpf__pyr *p) {
    int i;
    p->ld = ch;
    for (i = 0; i < 5; i++) {
        p->h[i] = Hp >> (i + 2); p->w[i] = Wp >> (i + 2);
        p->d[i] = FPF__TAKEF(b, (size_t)p->h[i] * p->w[i] * ch);
    }
}

static size_t fpf__arena_need(const fpf_model *m, const fpf_options *opt, int Hp, int Wp, int max_det) {
    fpf__bump t, h;
    fpf__tbuf tb;
    fpf__hbuf hb;
    fpf_config c;
    if (!m) return 0;
    c = fpf__run_config(m, opt);
    t.base = NULL; t.used = 0; h.base = NULL; h.used = 0;
    fpf__tower_layout(&t, &c, Hp, Wp, opt, fpf__tower_q8(&m->tower, &c) || fpf__tower_q8(&m->core, &c), &tb);
    fpf__heads_layout(&h, &c, Hp, Wp, max_det, &hb);
    return t.used > h.used ? t.used : h.used;
}

static int fpf__max_det(const fpf_model *m, const fpf_model *nuc, const fpf_options *opt) {
    int d = m->cfg.det_max_instances;
    if (nuc && nuc->cfg.det_max_instances > d) d = nuc->cfg.det_max_instances;
    return opt && opt->det_max_instances > 0 ? opt->det_max_instances : d;
}

/* Bytes of the largest input an int8 layer can have (one u8 per value): every conv input lies
   in one of these buffers (tower maps, the FPN band, a pyramid level, the RPN band, the heads). */
static size_t fpf__qcap(const fpf_config *c, int Hp, int Wp, int max_det) {
    size_t n = 0, W4 = (size_t)(Wp / 4), post = (size_t)c->post_nms_rois, D = (size_t)fpf__depth(c);
    size_t M2 = (size_t)c->mask_pool_size * c->mask_pool_size, P2 = (size_t)c->pool_size * c->pool_size;
    int i;
    for (i = 0; i < 4; i++) {
        size_t hw = (size_t)(Hp >> (i + 2)) * (size_t)(Wp >> (i + 2)), w = (size_t)c->stage_out[i];
        w = fpf__max(w, (size_t)c->bottleneck[i]);
        w = fpf__max(w, fpf__max(D, (size_t)c->stem_width));
        n = fpf__max(n, hw * w);
    }
    n = fpf__max(n, (FPF__BAND + 2) * W4 * c->fpn_width);
    n = fpf__max(n, (size_t)FPF__BAND * W4 * c->rpn_width);
    n = fpf__max(n, fpf__max(post * P2, (size_t)max_det * M2) * D);
    n = fpf__max(n, post * c->fc_width);
    n = fpf__max(n, (size_t)FPF__MASK_BATCH * M2 * c->mask_width);
    return n;
}

/* Carves everything from b; with s != NULL also fills the session's pointers. */
static void fpf__session_layout(fpf__bump *b, fpf_session *s, const fpf_model *m, const fpf_model *nuc,
                                const fpf_options *opt, int Hp, int Wp, int max_det) {
    size_t M2 = 4 * (size_t)m->cfg.mask_pool_size * m->cfg.mask_pool_size, a1, a2, q1, q2;
    uint8_t *qbuf;
    float *wbuf;
    int wcin, wave;
    fpf__pyr F, Pn;
    fpf__results cells, nuclei;
    float *mold, *anchors;
    uint32_t *hist;
    char *arena;
    memset(&nuclei, 0, sizeof nuclei);
    memset(&Pn, 0, sizeof Pn);
    fpf__take(b, sizeof(fpf_session));
    cells.inst = (fpf_instance *)fpf__take(b, (size_t)max_det * sizeof(fpf_instance));
    cells.masks = FPF__TAKEF(b, (size_t)max_det * M2);
    if (nuc) {
        nuclei.inst = (fpf_instance *)fpf__take(b, (size_t)max_det * sizeof(fpf_instance));
        nuclei.masks = FPF__TAKEF(b, (size_t)max_det * 4 * (size_t)nuc->cfg.mask_pool_size * nuc->cfg.mask_pool_size);
    }
    mold = FPF__TAKEF(b, (size_t)Hp * Wp * 2);
    hist = (uint32_t *)fpf__take(b, 65536 * sizeof(uint32_t));
    anchors = FPF__TAKEF(b, (size_t)fpf__anchor_count(Hp, Wp) * 4);
    fpf__pyr_layout(b, Hp, Wp, fpf__depth(&m->cfg), &F);
    if (nuc) fpf__pyr_layout(b, Hp, Wp, nuc->cfg.fpn_width, &Pn);
    a1 = fpf__arena_need(m, opt, Hp, Wp, max_det);
    a2 = fpf__arena_need(nuc, opt, Hp, Wp, max_det);
    arena = (char *)fpf__take(b, a1 > a2 ? a1 : a2);
    q1 = m->n_int8 ? fpf__qcap(&m->cfg, Hp, Wp, max_det) : 0;
    q2 = nuc && nuc->n_int8 ? fpf__qcap(&nuc->cfg, Hp, Wp, max_det) : 0;
    qbuf = q1 || q2 ? (uint8_t *)fpf__take(b, FPF__ZEROS + (q1 > q2 ? q1 : q2)) : NULL;
    wcin = opt && opt->conv3x3 == FPF_CONV3X3_DIRECT ? 0 : (int)fpf__max((size_t)m->wino_cin, nuc ? (size_t)nuc->wino_cin : 0);
    wave = fpf__wino_wave(opt);
    wbuf = wcin ? FPF__TAKEF(b, (size_t)wave * fpf__wino_slot(wcin)) : NULL;  /* Winograd scratch */
    if (!s) return;
    s->run.qbuf = qbuf; s->run.qcap = q1 > q2 ? q1 : q2;
    s->run.wbuf = wbuf; s->run.wino_cin = wcin; s->run.wave = wave;
    s->cells = cells; s->nuclei = nuclei; s->mold = mold; s->hist = hist; s->anchors = anchors;
    s->F = F; s->Pn = Pn; s->arena = arena; s->arena_bytes = a1 > a2 ? a1 : a2;
}

/* Same tower weights, bit for bit (§4.2): then the nucleus pyramid is computed once. */
static int fpf__same_conv(const fpf__conv *a, const fpf__conv *b) {
    if (!a->q != !b->q) return 0;
    if (a->q && (a->q->in_scale != b->q->in_scale || a->q->in_zero != b->q->in_zero ||
                 memcmp(a->q->scale, b->q->scale, (size_t)a->cout * sizeof(float)) != 0 ||
                 memcmp(a->q->w, b->q->w, fpf__rows(a) * (size_t)a->cout) != 0)) return 0;
    return a->kh == b->kh && a->kw == b->kw && a->cin == b->cin && a->cout == b->cout &&
           (a->q || memcmp(a->wp, b->wp, fpf__packed_floats(a) * sizeof(float)) == 0) &&
           memcmp(a->b, b->b, (size_t)a->cout * sizeof(float)) == 0;
}
static int fpf__same_tower(const fpf_config *ca, const fpf__tower *a, const fpf_config *cb, const fpf__tower *b) {
    int s, k, j, same = ca->fpn_width == cb->fpn_width && fpf__same_conv(&a->conv1, &b->conv1);
    for (s = 0; s < 4 && same; s++) {
        same &= ca->blocks[s] == cb->blocks[s];
        for (k = 0; k < ca->blocks[s] && same; k++)
            for (j = 0; j < (k == 0 ? 4 : 3); j++) same &= fpf__same_conv(&a->block[s][k][j], &b->block[s][k][j]);
        same &= fpf__same_conv(&a->lateral[s], &b->lateral[s]) && fpf__same_conv(&a->smooth[s], &b->smooth[s]);
    }
    return same;
}

/* A failed session init: the message goes to fpf_options.init_msg, when the caller gave one. */
static fpf_result fpf__init_fail(const fpf_options *opt, fpf_result r, const char *a, const char *b, const char *c) {
    if (opt && opt->init_msg) fpf__msg3(opt->init_msg, opt->init_msg_size, a, b, c);
    return r;
}

/* Options in range: finite values, a FIXED range with lo < hi, percentiles in [0, 100]. */
static const char *fpf__options_bad(const fpf_options *o) {
    if (!fpf__in(o->norm16, 0, 2)) return "unknown fpf_options.norm16";
    if (o->norm16 == FPF_NORM16_FIXED &&
        !(fpf__fin(o->norm16_lo, -FLT_MAX, FLT_MAX) && fpf__fin(o->norm16_hi, -FLT_MAX, FLT_MAX) && o->norm16_lo < o->norm16_hi))
        return "norm16 FIXED needs finite lo < hi";
    if (o->norm16 == FPF_NORM16_PERCENTILE && (o->norm16_lo != 0.0f || o->norm16_hi != 0.0f) &&
        !(fpf__fin(o->norm16_lo, 0.0f, 100.0f) && fpf__fin(o->norm16_hi, 0.0f, 100.0f) && o->norm16_lo < o->norm16_hi))
        return "norm16 PERCENTILE needs 0 <= lo < hi <= 100";
    if (!fpf__fin(o->det_min_confidence, 0.0f, 1.0f)) return "det_min_confidence must be in [0, 1]";
    if (o->n_threads < 0) return "n_threads must be >= 0";
    if (!fpf__in(o->conv3x3, 0, 1)) return "unknown fpf_options.conv3x3";
    return NULL;
}

static fpf_result fpf__check_pair(const fpf_model *m, const fpf_model *nuc, int max_h, int max_w,
                                  const fpf_options *opt) {
    char n[24];
    const char *bad;
    if (!m) return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, "no model", "", "");
    if (nuc && nuc->cfg.variant != FPF_VARIANT_CORES)
        return fpf__init_fail(opt, FPF_ERR_MODEL_PAIR, "the nucleus model must be a cores model (variant 0), not variant ",
                              fpf__num(n, (size_t)(nuc->cfg.variant < 0 ? 0 : nuc->cfg.variant)), "");
    if (max_h < 1 || max_w < 1 || max_h > FPF_MAX_IMAGE_DIM || max_w > FPF_MAX_IMAGE_DIM)
        return fpf__init_fail(opt, FPF_ERR_IMAGE_SIZE, "maximum image size must be 1 .. ",
                              fpf__num(n, FPF_MAX_IMAGE_DIM), " pixels a side (FPF_MAX_IMAGE_DIM)");
    if (opt && (opt->det_max_instances < 0 || opt->det_max_instances > FPF_MAX_DETECTIONS))
        return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, "det_max_instances must be 0 .. ", fpf__num(n, FPF_MAX_DETECTIONS),
                              " (FPF_MAX_DETECTIONS)");
    if (opt && (opt->max_proposals < 0 || opt->max_proposals > (1 << 16)))
        return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, "max_proposals must be 0..65536", "", "");
    if (opt && (bad = fpf__options_bad(opt)) != NULL) return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, bad, "", "");
    if (opt && ((int)opt->isa < FPF_ISA_AUTO || (int)opt->isa > FPF_ISA_NEON))
        return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, "unknown fpf_options.isa ", fpf__num(n, (size_t)(opt->isa < 0 ? 0 : opt->isa)), "");
    if (opt && !fpf__kernels_for((fpf_isa)opt->isa))
        return fpf__init_fail(opt, FPF_ERR_UNSUPPORTED_ISA, "fpf_options.isa = ", fpf_isa_name((fpf_isa)opt->isa),
                              ": this build or CPU cannot run these kernels (fpf_isa_supported)");
    if (opt && ((int)opt->int8_isa < FPF_QISA_AUTO || (int)opt->int8_isa > FPF_QISA_AMX))
        return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, "unknown fpf_options.int8_isa ",
                              fpf__num(n, (size_t)(opt->int8_isa < 0 ? 0 : opt->int8_isa)), "");
    if (opt && !fpf__qkernels_for((fpf_qisa)opt->int8_isa, (fpf_isa)opt->isa))
        return fpf__init_fail(opt, FPF_ERR_UNSUPPORTED_ISA, "fpf_options.int8_isa = ", fpf_qisa_name((fpf_qisa)opt->int8_isa),
                              ": this build or CPU cannot run these int8 kernels (fpf_qisa_supported)");
    return FPF_OK;
}

/* *bytes = need when it is within FPF_MAX_WORKSPACE_BYTES and the caller's limit; otherwise
   FPF_ERR_OUT_OF_MEMORY and "the session workspace needs N bytes; the limit is M (WHICH)". */
static fpf_result fpf__workspace_limit(const fpf_options *opt, size_t need, size_t *bytes) {
    size_t limit = FPF_MAX_WORKSPACE_BYTES;
    const char *which = " (FPF_MAX_WORKSPACE_BYTES)";
    char n1[24], n2[24], head[96];
    if (opt && opt->max_workspace_bytes && opt->max_workspace_bytes < limit) {
        limit = opt->max_workspace_bytes;
        which = " (fpf_options.max_workspace_bytes)";
    }
    if (need <= limit) { *bytes = need; return FPF_OK; }
    fpf__msg3(head, sizeof head, "the session workspace needs ", fpf__num(n1, need), " bytes; the limit is ");
    return fpf__init_fail(opt, FPF_ERR_OUT_OF_MEMORY, head, fpf__num(n2, limit), which);
}

FPF_DEF fpf_result fpf_session_workspace_size(const fpf_model *m, const fpf_model *nuc, int max_h,
                                              int max_w, const fpf_options *opt, size_t *bytes) {
    fpf__bump b;
    fpf_result r;
    if (!bytes) return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, "bytes is NULL", "", "");
    *bytes = 0;
    if ((r = fpf__check_pair(m, nuc, max_h, max_w, opt)) != FPF_OK) return r;
    {   /* the largest buffer, in float64, must fit size_t with room to spare */
        double hw = (double)fpf__ceil64(max_h) * (double)fpf__ceil64(max_w);
        double widest = (double)(fpf__depth(&m->cfg) > m->cfg.rpn_width ? fpf__depth(&m->cfg) : m->cfg.rpn_width);
        if (hw * (widest + 64.0) * 16.0 > (double)((size_t)-1) / 4.0)
            return fpf__init_fail(opt, FPF_ERR_IMAGE_SIZE, "the workspace for this image size overflows size_t", "", "");
    }
    b.base = NULL; b.used = 0;
    fpf__session_layout(&b, NULL, m, nuc, opt, fpf__ceil64(max_h), fpf__ceil64(max_w), fpf__max_det(m, nuc, opt));
    return fpf__workspace_limit(opt, b.used + FPF__ALIGN, bytes);
}

FPF_DEF fpf_result fpf_session_init_preallocated(const fpf_model *m, const fpf_model *nuc, int max_h,
                                                 int max_w, const fpf_options *opt, void *buf,
                                                 size_t bytes, fpf_session **out) {
    size_t need;
    fpf__bump b;
    fpf_session *s;
    fpf_result r;
    char n1[24], n2[24];
    if (!out || !buf) return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, !out ? "out is NULL" : "buf is NULL", "", "");
    *out = NULL;
    if ((r = fpf_session_workspace_size(m, nuc, max_h, max_w, opt, &need)) != FPF_OK) return r;
    if (bytes < need)
        return fpf__init_fail(opt, FPF_ERR_OUT_OF_MEMORY, fpf__num(n1, bytes), "-byte buffer; the session needs ",
                              fpf__num(n2, need));
    b.base = (char *)buf + ((FPF__ALIGN - ((uintptr_t)buf & (FPF__ALIGN - 1))) & (FPF__ALIGN - 1));
    b.used = 0;
    s = (fpf_session *)(void *)b.base;
    memset(s, 0, sizeof *s);
    if (opt) s->opt = *opt;
    s->model = m; s->nucleus = nuc;
    s->run.kern = fpf__kernels_for((fpf_isa)s->opt.isa); /* both rows checked by fpf__check_pair */
    s->run.qkern = fpf__qkernels_for((fpf_qisa)s->opt.int8_isa, (fpf_isa)s->opt.isa);
    s->run.observe = s->opt.conv_input; s->run.observe_user = s->opt.conv_input_user;
    s->run.parallel_for = s->opt.parallel_for; s->run.pool = s->opt.pool;
    s->max_h = max_h; s->max_w = max_w;
    s->max_det = fpf__max_det(m, nuc, opt);
    s->prefix = "";
    fpf__session_layout(&b, s, m, nuc, &s->opt, fpf__ceil64(max_h), fpf__ceil64(max_w), s->max_det);
    s->share = nuc && fpf__is_fpf(&m->cfg) && fpf__same_tower(&m->cfg, &m->core, &nuc->cfg, &nuc->tower);
#ifndef FPF_NO_THREADS
    if (!s->opt.parallel_for && s->opt.n_threads > 1 && (s->pool_on = fpf__pool_start(&s->pool, s->opt.n_threads))) {
        s->run.parallel_for = fpf__pool_run; s->run.pool = &s->pool;
    }
#endif
    *out = s;
    return FPF_OK;
}

FPF_DEF fpf_result fpf_session_init(const fpf_model *m, const fpf_model *nuc, int max_h, int max_w,
                                    const fpf_options *opt, fpf_session **out) {
    size_t need;
    void *buf;
    fpf_result r;
    char n[24];
    if (!out) return fpf__init_fail(opt, FPF_ERR_INVALID_ARG, "out is NULL", "", "");
    *out = NULL;
    if ((r = fpf_session_workspace_size(m, nuc, max_h, max_w, opt, &need)) != FPF_OK) return r;
    if (!(buf = fpf__alloc(opt ? &opt->allocator : NULL, need)))
        return fpf__init_fail(opt, FPF_ERR_OUT_OF_MEMORY, "cannot allocate the ", fpf__num(n, need), "-byte workspace");
    if ((r = fpf_session_init_preallocated(m, nuc, max_h, max_w, opt, buf, need, out)) != FPF_OK) {
        fpf__free(opt ? &opt->allocator : NULL, buf);
        return r;
    }
    (*out)->owned = buf;
    if (opt) (*out)->alloc = opt->allocator;
    return FPF_OK;
}

FPF_DEF void fpf_session_free(fpf_session *s) {
    fpf_allocator a;
    if (!s) return;
#ifndef FPF_NO_THREADS
    if (s->pool_on) { fpf__pool_stop(&s->pool); s->pool_on = 0; }
#endif
    if (!s->owned) return;
    a = s->alloc;
    fpf__free(&a, s->owned);
}

FPF_DEF const char *fpf_session_message(const fpf_session *s) { return s ? s->msg : ""; }
FPF_DEF fpf_isa fpf_session_isa(const fpf_session *s) { return s && s->run.kern ? s->run.kern->isa : FPF_ISA_AUTO; }
FPF_DEF fpf_qisa fpf_session_qisa(const fpf_session *s) { return s && s->run.qkern ? s->run.qkern->isa : FPF_QISA_AUTO; }
FPF_DEF void fpf_session_set_stage(fpf_session *s, fpf_stage_fn fn, void *user) {
    if (!s) return;
    s->opt.stage = fn; s->opt.stage_user = user;
}

FPF_DEF fpf_image fpf_image_u8(const uint8_t *pixels, int width, int height, size_t stride) {
    fpf_image im;
    im.pixels = pixels; im.width = width; im.height = height; im.bits = 8; im.stride = stride;
    return im;
}
FPF_DEF fpf_image fpf_image_u16(const uint16_t *pixels, int width, int height, size_t stride) {
    fpf_image im;
    im.pixels = pixels; im.width = width; im.height = height; im.bits = 16; im.stride = stride;
    return im;
}

/* Which images a model reads: bit 0 cell, bit 1 nucleus. */
static int fpf__needs(const fpf_model *m) {
    switch (m->cfg.variant) {
    case FPF_VARIANT_CORES: return 2;
    case FPF_VARIANT_WITHOUT_NUCLEUS: return 1;
    default: return 3;
    }
}

static fpf_result fpf__check_image(fpf_session *s, const fpf_image *im, const char *which) {
    if (!im->pixels) return fpf__err(s, FPF_ERR_INVALID_ARG, "missing image: ", which);
    if (im->bits != 8 && im->bits != 16) return fpf__err(s, FPF_ERR_INVALID_ARG, "image must be 8 or 16 bit: ", which);
    if (im->width < 1 || im->height < 1) return fpf__err(s, FPF_ERR_IMAGE_SIZE, "empty image: ", which);
    if (im->width > s->max_w || im->height > s->max_h)
        return fpf__err(s, FPF_ERR_IMAGE_SIZE, "image larger than the session's maximum: ", which);
    if (im->stride < (size_t)im->width * (size_t)(im->bits / 8))
        return fpf__err(s, FPF_ERR_INVALID_ARG, "row stride smaller than a row: ", which);
    if (s->h && (im->width != s->w || im->height != s->h))
        return fpf__err(s, FPF_ERR_IMAGE_SIZE, "cell and nucleus images differ in size: ", which);
    s->h = im->height; s->w = im->width;
    return FPF_OK;
}

static fpf_result fpf__check_input(fpf_session *s, const fpf_input *in) {
    int need = fpf__needs(s->model) | (s->nucleus ? 2 : 0);
    fpf_result r;
    s->h = s->w = 0;
    if ((need & 1) && (r = fpf__check_image(s, &in->cell, "cell")) != FPF_OK) return r;
    if ((need & 2) && (r = fpf__check_image(s, &in->nucleus, "nucleus")) != FPF_OK) return r;
    s->Hp = fpf__ceil64(s->h); s->Wp = fpf__ceil64(s->w);
    return FPF_OK;
}

FPF_DEF fpf_result fpf_session_run(fpf_session *s, const fpf_input *in, const fpf_output **out) {
    fpf_result r;
    int i;
    if (!s || !in || !out) return FPF_ERR_INVALID_ARG;
    *out = NULL;
    s->msg[0] = 0;
    if ((r = fpf__check_input(s, in)) != FPF_OK) return r;
    for (i = 0; i < 5; i++) {                                 /* level sizes of this image */
        s->F.h[i] = s->Pn.h[i] = s->Hp >> (i + 2);
        s->F.w[i] = s->Pn.w[i] = s->Wp >> (i + 2);
    }
    s->nuclei.n = 0; s->nuclei.over = 0;
    if (s->nucleus) {                                         /* nuclei first: FPF may reuse them */
        s->prefix = "nuclei:";
        r = fpf__model_pass(s, s->nucleus, in, &s->Pn, &s->nuclei);
        s->prefix = "";
        if (r != FPF_OK) return r;
    }
    if ((r = fpf__model_pass(s, s->model, in, &s->F, &s->cells)) != FPF_OK) return r;
    s->out.height = s->h; s->out.width = s->w;
    s->out.n_cells = s->cells.n; s->out.cells = s->cells.inst;
    s->out.n_nuclei = s->nuclei.n; s->out.nuclei = s->nuclei.inst;
    s->out.shared_nucleus_pyramid = s->share;
    s->out.max_detections = s->max_det;
    s->out.cells_over_max = s->cells.over; s->out.nuclei_over_max = s->nuclei.over;
    *out = &s->out;
    return FPF_OK;
}

/* ---------------------------------------------------------------------------------------------
   10. Tiling (see the API comment): a tile grid over the (resampled) image, one session run per
   tile, and the stitch of each tile's instances into one list. */

#define FPF__CUT_PX 2          /* a box this close to a shared tile edge is a cut half */
#define FPF__DEFAULT_OVERLAP 128

typedef struct fpf__stitch {
    fpf_instance *inst;   /* [cap] in network pixels of the whole image; mask28 unset until the end */
    float *masks;         /* [cap][msize²] */
    int *tile, *edge;     /* [cap] source tile (-1: removed), distance to its tile's shared edges */
    fpf_instance *sorted; /* [cap] the output, in input pixels, by descending score */
    int n, cap, msize;
} fpf__stitch;

struct fpf_tiler {
    fpf_session *s;
    fpf_allocator alloc;
    int tile_h, tile_w, overlap, n_tiles;
    float scale;
    uint16_t *buf[2];     /* [tile²] resampled cell / nucleus tile (scale != 1) */
    fpf__stitch st[2];    /* cells, nuclei */
    fpf_output out;
};

static void fpf__stitch_free(const fpf_allocator *a, fpf__stitch *st) {
    fpf__free(a, st->inst); fpf__free(a, st->masks); fpf__free(a, st->tile);
    fpf__free(a, st->edge); fpf__free(a, st->sorted);
    memset(st, 0, sizeof *st);
}

/* Room for `more` instances with masks of msize²; grown by doubling (between tiles only). */
static int fpf__stitch_reserve(const fpf_allocator *a, fpf__stitch *st, int more, int msize) {
    fpf__stitch g;
    size_t M = (size_t)msize * msize;
    int cap = st->cap ? st->cap : 256;
    if (st->n + more <= st->cap && (st->n == 0 || msize == st->msize)) { st->msize = msize; return 1; }
    if (st->n && msize != st->msize) return 0;
    while (cap < st->n + more) { if (cap > (1 << 28)) return 0; cap *= 2; }
    memset(&g, 0, sizeof g);
    g.inst = (fpf_instance *)fpf__alloc(a, (size_t)cap * sizeof(fpf_instance));
    g.masks = (float *)fpf__alloc(a, (size_t)cap * M * sizeof(float));
    g.tile = (int *)fpf__alloc(a, (size_t)cap * sizeof(int));
    g.edge = (int *)fpf__alloc(a, (size_t)cap * sizeof(int));
    g.sorted = (fpf_instance *)fpf__alloc(a, (size_t)cap * sizeof(fpf_instance));
    if (!g.inst || !g.masks || !g.tile || !g.edge || !g.sorted) { fpf__stitch_free(a, &g); return 0; }
    if (st->n) {
        memcpy(g.inst, st->inst, (size_t)st->n * sizeof(fpf_instance));
        memcpy(g.masks, st->masks, (size_t)st->n * M * sizeof(float));
        memcpy(g.tile, st->tile, (size_t)st->n * sizeof(int));
        memcpy(g.edge, st->edge, (size_t)st->n * sizeof(int));
    }
    g.n = st->n; g.cap = cap; g.msize = msize;
    fpf__stitch_free(a, st);
    *st = g;
    return 1;
}

static double fpf__box_iou(const fpf_instance *a, const fpf_instance *b) {
    double ih = (double)(a->y2 < b->y2 ? a->y2 : b->y2) - (a->y1 > b->y1 ? a->y1 : b->y1);
    double iw = (double)(a->x2 < b->x2 ? a->x2 : b->x2) - (a->x1 > b->x1 ? a->x1 : b->x1);
    double inter, uni;
    if (ih <= 0 || iw <= 0) return 0.0;
    inter = ih * iw;
    uni = (double)(a->y2 - a->y1) * (a->x2 - a->x1) + (double)(b->y2 - b->y1) * (b->x2 - b->x1) - inter;
    return uni > 0 ? inter / uni : 0.0;
}

static int fpf__stitch_same(const fpf__stitch *st, int k, const fpf_instance *d, int tile, float thr) {
    return st->tile[k] >= 0 && st->tile[k] != tile && fpf__box_iou(d, &st->inst[k]) > thr;
}

/* One tile of an H × W image: [y0, y0+th) × [x0, x0+tw), and its core [cy0, cy1) × [cx0, cx1):
   the tile less half the overlap on each side it shares. The cores partition the image. */
typedef struct fpf__tile { int y0, x0, th, tw, cy0, cy1, cx0, cx1, H, W; } fpf__tile;

/* Adds the n instances of tile number `tile` (boxes relative to the tile) under the stitching
   rule. Room must have been reserved. */
static void fpf__stitch_add(fpf__stitch *st, const fpf_instance *inst, int n, int tile, const fpf__tile *g, float thr) {
    int i, k, M = st->msize * st->msize;
    for (i = 0; i < n; i++) {
        fpf_instance d = inst[i];
        int edge = 1 << 30, best = -1, wins = 1;
        double cy, cx;
        d.y1 += g->y0; d.y2 += g->y0; d.x1 += g->x0; d.x2 += g->x0;
        cy = 0.5 * (d.y1 + d.y2); cx = 0.5 * (d.x1 + d.x2);
        if (cy < g->cy0 || cy >= g->cy1 || cx < g->cx0 || cx >= g->cx1) continue;   /* another tile's */
        if (g->y0 > 0) edge = d.y1 - g->y0 < edge ? d.y1 - g->y0 : edge;            /* shared edges only */
        if (g->y0 + g->th < g->H) edge = g->y0 + g->th - d.y2 < edge ? g->y0 + g->th - d.y2 : edge;
        if (g->x0 > 0) edge = d.x1 - g->x0 < edge ? d.x1 - g->x0 : edge;
        if (g->x0 + g->tw < g->W) edge = g->x0 + g->tw - d.x2 < edge ? g->x0 + g->tw - d.x2 : edge;
        if (edge < FPF__CUT_PX) continue;                                           /* a cut half */
        for (k = 0; k < st->n && wins; k++)          /* the same object, kept from a tile where it lies deeper? */
            if (fpf__stitch_same(st, k, &d, tile, thr) && edge <= st->edge[k]) wins = 0;
        if (!wins) continue;
        for (k = 0; k < st->n; k++)                  /* it replaces every copy kept so far */
            if (fpf__stitch_same(st, k, &d, tile, thr)) { if (best < 0) best = k; else st->tile[k] = -1; }
        if (best < 0) best = st->n++;
        st->inst[best] = d; st->tile[best] = tile; st->edge[best] = edge;
        memcpy(st->masks + (size_t)best * M, inst[i].mask28, (size_t)M * sizeof(float));
    }
}

static int fpf__by_score(const void *a, const void *b) {
    const fpf_instance *x = (const fpf_instance *)a, *y = (const fpf_instance *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->mask28 < y->mask28 ? -1 : x->mask28 > y->mask28;   /* ties: the order they were kept */
}

/* The kept instances in input pixels (boxes / scale, rounded), by descending score. */
static int fpf__stitch_finish(fpf__stitch *st, float scale, int H, int W) {
    int k, n = 0;
    for (k = 0; k < st->n; k++) {
        fpf_instance d = st->inst[k];
        if (st->tile[k] < 0) continue;
        if (scale != 1.0f) {
            d.y1 = (int)floor(d.y1 / (double)scale + 0.5); d.x1 = (int)floor(d.x1 / (double)scale + 0.5);
            d.y2 = (int)floor(d.y2 / (double)scale + 0.5); d.x2 = (int)floor(d.x2 / (double)scale + 0.5);
            d.y2 = d.y2 > H ? H : d.y2; d.x2 = d.x2 > W ? W : d.x2;
            if (d.y2 <= d.y1 || d.x2 <= d.x1) continue;
        }
        d.mask28 = st->masks + (size_t)k * st->msize * st->msize;
        st->sorted[n++] = d;
    }
    if (n > 1) qsort(st->sorted, (size_t)n, sizeof *st->sorted, fpf__by_score);
    return n;
}

FPF_DEF fpf_result fpf_tiler_init(fpf_session *s, const fpf_tile_options *opt, fpf_tiler **out) {
    fpf_tiler *t;
    int th, tw, overlap;
    float scale;
    if (!s || !out) return FPF_ERR_INVALID_ARG;
    *out = NULL;
    if (opt && (opt->tile < 0 || opt->overlap < 0)) return fpf__err(s, FPF_ERR_INVALID_ARG, "negative tile or overlap", "");
    th = opt && opt->tile > 0 ? opt->tile : s->max_h;
    tw = opt && opt->tile > 0 ? opt->tile : s->max_w;
    overlap = opt && opt->overlap > 0 ? opt->overlap : FPF__DEFAULT_OVERLAP;
    scale = opt && opt->scale != 0.0f ? opt->scale : 1.0f;
    if (th > s->max_h || tw > s->max_w) return fpf__err(s, FPF_ERR_INVALID_ARG, "the tile is larger than the session's maximum image", "");
    if (!(scale >= 0.05f && scale <= 20.0f)) return fpf__err(s, FPF_ERR_INVALID_ARG, "scale must lie in 0.05 .. 20", "");
    if (!(t = (fpf_tiler *)fpf__alloc(&s->opt.allocator, sizeof *t))) return FPF_ERR_OUT_OF_MEMORY;
    memset(t, 0, sizeof *t);
    t->s = s; t->alloc = s->opt.allocator; t->tile_h = th; t->tile_w = tw; t->overlap = overlap; t->scale = scale;
    if (scale != 1.0f) {
        t->buf[0] = (uint16_t *)fpf__alloc(&t->alloc, (size_t)th * tw * sizeof(uint16_t));
        t->buf[1] = (uint16_t *)fpf__alloc(&t->alloc, (size_t)th * tw * sizeof(uint16_t));
        if (!t->buf[0] || !t->buf[1]) { fpf_tiler_free(t); return FPF_ERR_OUT_OF_MEMORY; }
    }
    *out = t;
    return FPF_OK;
}

FPF_DEF void fpf_tiler_free(fpf_tiler *t) {
    fpf_allocator a;
    if (!t) return;
    a = t->alloc;
    fpf__stitch_free(&a, &t->st[0]); fpf__stitch_free(&a, &t->st[1]);
    fpf__free(&a, t->buf[0]); fpf__free(&a, t->buf[1]);
    fpf__free(&a, t);
}

FPF_DEF int fpf_tiler_tiles(const fpf_tiler *t) { return t ? t->n_tiles : 0; }

/* Tile starts along one axis of n pixels: evenly spread, neighbours sharing at least `overlap`. */
static int fpf__tile_count(int n, int tile, int overlap) {
    return n <= tile ? 1 : (n - overlap + (tile - overlap) - 1) / (tile - overlap);
}
static int fpf__tile_start(int n, int tile, int count, int i) {
    return count == 1 ? 0 : (int)((long long)i * (n - tile) / (count - 1));
}
/* Core bounds along one axis: halfway through the overlap with each neighbour. */
static void fpf__tile_core(int n, int tile, int count, int i, int *c0, int *c1) {
    int s = fpf__tile_start(n, tile, count, i);
    *c0 = i == 0 ? 0 : (fpf__tile_start(n, tile, count, i - 1) + tile + s) / 2;
    *c1 = i == count - 1 ? n : (s + tile + fpf__tile_start(n, tile, count, i + 1)) / 2;
}

static double fpf__raw(const fpf_image *im, int y, int x) {
    const uint8_t *row = (const uint8_t *)im->pixels + (size_t)y * im->stride;
    return im->bits == 16 ? (double)((const uint16_t *)(const void *)row)[x] : (double)row[x];
}

/* The tile [y0, y0+th) × [x0, x0+tw) of the image resampled by `scale`: a view at scale 1,
   else bilinear (half-pixel centres, edge clamped) into buf, rounded to the image's type. */
static fpf_image fpf__tile_view(const fpf_image *im, float scale, uint16_t *buf, int y0, int x0, int th, int tw) {
    int bytes = im->bits / 8, y, x;
    if (!im->pixels) return *im;
    if (scale == 1.0f)
        return im->bits == 8 ? fpf_image_u8((const uint8_t *)im->pixels + (size_t)y0 * im->stride + (size_t)x0, tw, th, im->stride)
                             : fpf_image_u16((const uint16_t *)(const void *)((const uint8_t *)im->pixels + (size_t)y0 * im->stride + (size_t)x0 * bytes),
                                             tw, th, im->stride);
    for (y = 0; y < th; y++) {
        double sy = (y0 + y + 0.5) / scale - 0.5, fy;
        int ya, yb;
        sy = sy < 0 ? 0 : sy > im->height - 1 ? im->height - 1 : sy;
        ya = (int)sy; yb = ya + 1 < im->height ? ya + 1 : ya; fy = sy - ya;
        for (x = 0; x < tw; x++) {
            double sx = (x0 + x + 0.5) / scale - 0.5, fx, v;
            int xa, xb;
            sx = sx < 0 ? 0 : sx > im->width - 1 ? im->width - 1 : sx;
            xa = (int)sx; xb = xa + 1 < im->width ? xa + 1 : xa; fx = sx - xa;
            v = (1 - fy) * ((1 - fx) * fpf__raw(im, ya, xa) + fx * fpf__raw(im, ya, xb)) +
                fy * ((1 - fx) * fpf__raw(im, yb, xa) + fx * fpf__raw(im, yb, xb));
            if (im->bits == 8) ((uint8_t *)buf)[(size_t)y * tw + x] = (uint8_t)(v + 0.5);
            else buf[(size_t)y * tw + x] = (uint16_t)(v + 0.5);
        }
    }
    return im->bits == 8 ? fpf_image_u8((const uint8_t *)buf, tw, th, (size_t)tw) : fpf_image_u16(buf, tw, th, (size_t)tw * 2);
}

/* The whole image's 16-bit percentile range, as fpf__norm16 computes it for an untiled run. */
static void fpf__pin_range(fpf_session *s, const fpf_image *im, int k) {
    float lo = s->opt.norm16_lo, hi = s->opt.norm16_hi;
    float plo = lo == 0.0f && hi == 0.0f ? 0.1f : lo, phi = lo == 0.0f && hi == 0.0f ? 99.9f : hi;
    int y, x;
    s->pin_lo[k] = 0.0f; s->pin_hi[k] = 1.0f;
    if (!im->pixels || im->bits != 16) return;
    memset(s->hist, 0, 65536 * sizeof(uint32_t));
    for (y = 0; y < im->height; y++)
        for (x = 0; x < im->width; x++)
            s->hist[((const uint16_t *)(const void *)((const uint8_t *)im->pixels + (size_t)y * im->stride))[x]]++;
    s->pin_lo[k] = fpf__hist_percentile(s->hist, (size_t)im->width * im->height, plo);
    s->pin_hi[k] = fpf__hist_percentile(s->hist, (size_t)im->width * im->height, phi);
}

FPF_DEF fpf_result fpf_tiler_run(fpf_tiler *t, const fpf_input *in, const fpf_output **out) {
    fpf_session *s;
    const fpf_image *ref;
    fpf_input tin;
    const fpf_output *o = NULL;
    fpf_result r = FPF_OK;
    int H, W, Hs, Ws, ny, nx, iy, ix, over[2] = {0, 0};
    if (!t || !in || !out) return FPF_ERR_INVALID_ARG;
    s = t->s; *out = NULL; s->msg[0] = 0;
    ref = in->cell.pixels ? &in->cell : &in->nucleus;
    if (!ref->pixels) return fpf__err(s, FPF_ERR_INVALID_ARG, "missing image: ", "cell and nucleus");
    if ((in->cell.pixels && in->nucleus.pixels) &&
        (in->cell.width != in->nucleus.width || in->cell.height != in->nucleus.height))
        return fpf__err(s, FPF_ERR_IMAGE_SIZE, "cell and nucleus images differ in size", "");
    H = ref->height; W = ref->width;
    if (H < 1 || W < 1 || H > FPF_MAX_IMAGE_DIM || W > FPF_MAX_IMAGE_DIM) return fpf__err(s, FPF_ERR_IMAGE_SIZE, "empty or too large image", "");
    Hs = (int)floor(H * (double)t->scale + 0.5); Ws = (int)floor(W * (double)t->scale + 0.5);
    Hs = Hs < 1 ? 1 : Hs; Ws = Ws < 1 ? 1 : Ws;
    if (Hs > FPF_MAX_IMAGE_DIM || Ws > FPF_MAX_IMAGE_DIM) return fpf__err(s, FPF_ERR_IMAGE_SIZE, "image too large at this scale", "");
    if ((Hs > t->tile_h && 2 * t->overlap >= t->tile_h) || (Ws > t->tile_w && 2 * t->overlap >= t->tile_w))
        return fpf__err(s, FPF_ERR_INVALID_ARG, "tile overlap must be less than half the tile", "");
    ny = fpf__tile_count(Hs, t->tile_h, t->overlap); nx = fpf__tile_count(Ws, t->tile_w, t->overlap);
    t->st[0].n = t->st[1].n = 0;
    t->n_tiles = 0;
    if (s->opt.norm16 == FPF_NORM16_PERCENTILE) { fpf__pin_range(s, &in->cell, 0); fpf__pin_range(s, &in->nucleus, 1); }
    for (iy = 0; iy < ny && r == FPF_OK; iy++)
        for (ix = 0; ix < nx && r == FPF_OK; ix++) {
            fpf__tile g;
            int k;
            g.th = Hs < t->tile_h ? Hs : t->tile_h; g.tw = Ws < t->tile_w ? Ws : t->tile_w; g.H = Hs; g.W = Ws;
            g.y0 = fpf__tile_start(Hs, g.th, ny, iy); g.x0 = fpf__tile_start(Ws, g.tw, nx, ix);
            fpf__tile_core(Hs, g.th, ny, iy, &g.cy0, &g.cy1); fpf__tile_core(Ws, g.tw, nx, ix, &g.cx0, &g.cx1);
            tin.cell = fpf__tile_view(&in->cell, t->scale, t->buf[0], g.y0, g.x0, g.th, g.tw);
            tin.nucleus = fpf__tile_view(&in->nucleus, t->scale, t->buf[1], g.y0, g.x0, g.th, g.tw);
            s->pin_in = s->opt.norm16 == FPF_NORM16_PERCENTILE ? &tin : NULL;
            r = fpf_session_run(s, &tin, &o);
            s->pin_in = NULL;
            if (r != FPF_OK) break;
            for (k = 0; k < 2; k++) {
                int n = k ? o->n_nuclei : o->n_cells;
                const fpf_instance *inst = k ? o->nuclei : o->cells;
                const fpf_model *m = k ? s->nucleus : s->model;
                if (!m) continue;
                if (n && !fpf__stitch_reserve(&t->alloc, &t->st[k], n, inst[0].mask_size))
                    return fpf__err(s, FPF_ERR_OUT_OF_MEMORY, "out of memory while stitching tiles", "");
                fpf__stitch_add(&t->st[k], inst, n, t->n_tiles, &g, m->cfg.det_nms_threshold);
            }
            over[0] += o->cells_over_max; over[1] += o->nuclei_over_max;
            t->n_tiles++;
        }
    if (r != FPF_OK) return r;
    t->out = *o;
    t->out.height = H; t->out.width = W;
    t->out.n_cells = fpf__stitch_finish(&t->st[0], t->scale, H, W); t->out.cells = t->st[0].sorted;
    t->out.n_nuclei = s->nucleus ? fpf__stitch_finish(&t->st[1], t->scale, H, W) : 0;
    t->out.nuclei = s->nucleus ? t->st[1].sorted : NULL;
    t->out.cells_over_max = over[0]; t->out.nuclei_over_max = over[1];
    *out = &t->out;
    return FPF_OK;
}

#endif /* FPF_IMPLEMENTATION_INCLUDED */
#endif /* FPF_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the fpf authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/

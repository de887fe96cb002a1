/* fpf_info - what is in an .fpf model file.
 *
 *   build/fpf_info M.fpf [--json]
 *
 * Prints the variant, the configuration, the tensor count, the file size, the checksum status,
 * whether the file loads (and if not, the loader's message), and each layer's precision (fp32,
 * or int8 with its input scale and zero point). Exit status 0 when the model loads, 1 otherwise. */
#define _POSIX_C_SOURCE 200809L
#define FPF_IMPLEMENTATION
#define FPF_IMAGE_IMPLEMENTATION
#include "fpf.h"
#include "fpf_image.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *variant_name(int v) {
    static const char *n[5] = {"cores", "without_nucleus", "with_nucleus", "fpf_add", "fpf_concat"};
    return v >= 0 && v < 5 ? n[v] : "unknown";
}
static uint64_t rd64(const unsigned char *p) { uint64_t v = 0; int i; for (i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

int main(int argc, char **argv) {
    const char *path = NULL;
    int json = 0, i, n = 0, n8 = 0, nw = 0, loads;
    unsigned char *f = NULL;
    size_t size = 0;
    char err[256], msg[256] = "";
    fpf_model *m = NULL;
    fpf_layer_info info[FPF_MAX_LAYERS];
    fpf_config c;
    uint32_t words[64];
    int have_hdr, sum_ok;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!path && argv[i][0] != '-') path = argv[i];
        else { fprintf(stderr, "usage: fpf_info M.fpf [--json]\n"); return 2; }
    }
    if (!path) { fprintf(stderr, "usage: fpf_info M.fpf [--json]\n"); return 2; }
    if (fpfi_load_file(path, &f, &size, err, sizeof err) != 0) { fprintf(stderr, "fpf_info: error: %s: %s\n", path, err); return 1; }
    have_hdr = size >= 320 && memcmp(f, "FPFMODEL", 8) == 0;
    if (!have_hdr) { fprintf(stderr, "fpf_info: error: %s: not an .fpf model (bad magic or too short)\n", path); free(f); return 1; }
    sum_ok = fpf_checksum(f, size) == rd64(f + 24);
    for (i = 0; i < 64; i++) words[i] = rd32(f + 64 + 4 * i);
    fpf_config_from_words(&c, words);
    loads = fpf_model_load_memory(f, size, NULL, &m, msg, sizeof msg) == FPF_OK;
    if (loads) {
        n = fpf_model_layers(m, info, FPF_MAX_LAYERS);
        for (i = 0; i < n; i++) { n8 += info[i].bits == 8; nw += info[i].winograd; }
    }
    if (json) {
        printf("{\"file\": \"%s\", \"bytes\": %zu, \"format_version\": %u, \"tensors\": %u, \"checksum\": \"%s\", \"loads\": %s",
               path, size, rd32(f + 8), rd32(f + 12), sum_ok ? "ok" : "mismatch", loads ? "true" : "false");
        if (!loads) printf(", \"error\": \"%s\"", msg);
        printf(",\n \"variant\": \"%s\", \"config\": {\"input_channels\": %d, \"stem_width\": %d, \"blocks\": [%d, %d, %d, %d], "
               "\"bottleneck\": [%d, %d, %d, %d], \"stage_out\": [%d, %d, %d, %d], \"fpn_width\": %d, \"rpn_width\": %d, "
               "\"fc_width\": %d, \"mask_width\": %d, \"post_nms_rois\": %d, \"det_min_confidence\": %g, \"object_diameter\": %g},\n",
               variant_name(c.variant), c.input_channels, c.stem_width, c.blocks[0], c.blocks[1], c.blocks[2], c.blocks[3],
               c.bottleneck[0], c.bottleneck[1], c.bottleneck[2], c.bottleneck[3], c.stage_out[0], c.stage_out[1],
               c.stage_out[2], c.stage_out[3], c.fpn_width, c.rpn_width, c.fc_width, c.mask_width, c.post_nms_rois,
               (double)c.det_min_confidence, (double)c.object_diameter);
        printf(" \"precision\": \"%s\", \"int8_layers\": %d, \"winograd_layers\": %d, \"layers\": [",
               !loads ? "unknown" : n8 == 0 ? "fp32" : n8 == n ? "int8" : "mixed int8/fp32", n8, nw);
        for (i = 0; i < n; i++)
            printf("%s\n  {\"name\": \"%s\", \"kind\": \"%s\", \"shape\": [%d, %d, %d, %d], \"bits\": %d, \"in_scale\": %.9g, \"in_zero\": %d, \"winograd\": %s}",
                   i ? "," : "", info[i].desc.name, info[i].desc.kind == 1 ? "dense" : info[i].desc.kind == 2 ? "deconv" : "conv",
                   info[i].desc.kh, info[i].desc.kw, info[i].desc.cin, info[i].desc.cout, info[i].bits,
                   (double)info[i].in_scale, info[i].in_zero, info[i].winograd ? "true" : "false");
        printf("]}\n");
    } else {
        printf("file        %s\n", path);
        printf("bytes       %zu\n", size);
        printf("format      version %u, %u tensors\n", rd32(f + 8), rd32(f + 12));
        printf("checksum    %s\n", sum_ok ? "ok" : "MISMATCH");
        printf("loads       %s%s%s\n", loads ? "yes" : "no: ", loads ? "" : msg, "");
        printf("variant     %s\n", variant_name(c.variant));
        printf("config      input channels %d, stem %d, blocks %d/%d/%d/%d, bottleneck %d/%d/%d/%d, stage out %d/%d/%d/%d,\n"
               "            FPN %d, RPN %d, FC %d, mask %d, %d RoIs, min confidence %g\n",
               c.input_channels, c.stem_width, c.blocks[0], c.blocks[1], c.blocks[2], c.blocks[3], c.bottleneck[0],
               c.bottleneck[1], c.bottleneck[2], c.bottleneck[3], c.stage_out[0], c.stage_out[1], c.stage_out[2],
               c.stage_out[3], c.fpn_width, c.rpn_width, c.fc_width, c.mask_width, c.post_nms_rois, (double)c.det_min_confidence);
        if (c.object_diameter > 0) printf("diameter    objects of about %g px across (recorded in the model)\n", (double)c.object_diameter);
        else printf("diameter    not recorded\n");
        if (loads) {
            printf("precision   %s: %d of %d layers int8\n", n8 == 0 ? "fp32" : n8 == n ? "int8" : "mixed int8/fp32", n8, n);
            if (nw) printf("winograd    %d fp32 3×3 layers run as Winograd F(2×2, 3×3) (fpf_segment --conv3x3 direct: not)\n", nw);
            printf("\n  #  layer                        kind    kh kw   cin  cout  precision\n");
            for (i = 0; i < n; i++) {
                printf("%3d  %-28s %-6s %3d %2d %5d %5d  ", i, info[i].desc.name,
                       info[i].desc.kind == 1 ? "dense" : info[i].desc.kind == 2 ? "deconv" : "conv",
                       info[i].desc.kh, info[i].desc.kw, info[i].desc.cin, info[i].desc.cout);
                if (info[i].bits == 8) printf("int8  (input scale %.6g, zero point %d)\n", (double)info[i].in_scale, info[i].in_zero);
                else printf("fp32%s\n", info[i].winograd ? "  (Winograd)" : "");
            }
        }
    }
    fpf_model_free(m);
    free(f);
    return loads ? 0 : 1;
}

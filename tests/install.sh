#!/bin/sh
# tests/install.sh - make install into a temporary prefix, then build a tiny consumer program
# outside the source tree against it, once through pkg-config and once through CMake
# (find_package(fpf) -> fpf::fpf), and run both on the installed nucleus model.
# Prints "install: N passed, N failed[, N skipped]". Needs cc; pkg-config and cmake are skipped
# (counted) when absent.
root=$(pwd)
tmp=$(mktemp -d /tmp/fpf_install_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0; skip=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; [ -f "$tmp/log" ] && sed 's/^/  /' "$tmp/log" | tail -n 20; fail=$((fail + 1)); }
sk() { echo "skip $1: $2"; skip=$((skip + 1)); }
summary() {
    if [ "$skip" -gt 0 ]; then echo "install: $pass passed, $fail failed, $skip skipped"
    else echo "install: $pass passed, $fail failed"; fi
    [ "$fail" -eq 0 ]
}
prefix="$tmp/prefix"
if make -s -C "$root" install PREFIX="$prefix" >"$tmp/log" 2>&1 &&
   [ -f "$prefix/include/fpf.h" ] && [ -f "$prefix/include/fpf_post.h" ] && [ -f "$prefix/include/fpf_eval.h" ] &&
   [ -x "$prefix/bin/fpf_segment" ] && [ -f "$prefix/share/fpf/models/cores.fpf" ] &&
   [ -f "$prefix/lib/pkgconfig/fpf.pc" ] && [ -f "$prefix/lib/cmake/fpf/fpfConfig.cmake" ]; then
    ok make_install
else
    ko make_install; summary; exit 1
fi
# The consumer: all three headers in one translation unit, loads a shipped model, runs it once.
mkdir -p "$tmp/consumer"
cat > "$tmp/consumer/main.c" <<'C'
#define FPF_ALL_IMPLEMENTATION
#include <fpf.h>
#include <fpf_post.h>
#include <fpf_eval.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    static unsigned char px[64 * 64];
    fpf_model *m = NULL;
    fpf_session *s = NULL;
    fpf_input in;
    const fpf_output *out;
    char msg[256];
    if (argc < 2 || fpf_model_load_file(argv[1], NULL, &m, msg, sizeof msg) != FPF_OK) { printf("load: %s\n", msg); return 1; }
    if (fpf_session_init(m, NULL, 64, 64, NULL, &s) != FPF_OK) return 1;
    memset(&in, 0, sizeof in);
    in.nucleus = fpf_image_u8(px, 64, 64, 64);
    if (fpf_session_run(s, &in, &out) != FPF_OK) return 1;
    printf("fpf %s: %d detections\n", fpf_version(), out->n_cells);
    fpf_session_free(s);
    fpf_model_free(m);
    return 0;
}
C
model="$prefix/share/fpf/models/cores.fpf"
if command -v pkg-config >/dev/null; then
    if (cd "$tmp/consumer" && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" &&
        export PKG_CONFIG_PATH && ${CC:-cc} -std=c99 -O1 main.c -o app_pc $(pkg-config --cflags --libs fpf) &&
        ./app_pc "$model") >"$tmp/log" 2>&1 && grep -q "detections" "$tmp/log"; then ok pkg_config_consumer
    else ko pkg_config_consumer; fi
else sk pkg_config_consumer "no pkg-config"; fi
if command -v cmake >/dev/null; then
    cat > "$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.13)
project(fpf_consumer C)
find_package(fpf 0.1 REQUIRED)
add_executable(app_cmake main.c)
set_property(TARGET app_cmake PROPERTY C_STANDARD 99)
target_link_libraries(app_cmake PRIVATE fpf::fpf)
CM
    if (cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$tmp/consumer/build" && "$tmp/consumer/build/app_cmake" "$model") >"$tmp/log" 2>&1 &&
        grep -q "detections" "$tmp/log"; then ok cmake_find_package_consumer
    else ko cmake_find_package_consumer; fi
else sk cmake_find_package_consumer "no cmake"; fi
summary

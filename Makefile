# fpf - Makefile. Targets:
#   make            build the example CLIs into build/
#   make test       build and run every tests/test_*.c (no Python needed); ends with "N passed, N failed"
#   make fixtures   regenerate tests/fixtures from the Python reference (needs /usr/bin/python3 + torch)
#   make bench      benchmarks (not tests)
#   make walkthrough  the shipped FPF model, tensor by tensor, with pictures in build/walkthrough/
# Flags: -O2, no -march=native (binaries must move between lab PCs), no -ffast-math.
CC      ?= cc
CFLAGS  ?= -std=c99 -O2 -g -Wall -Wextra -Wpedantic -ffp-contract=off
LDLIBS  ?= -lm -lpthread
PY      ?= /usr/bin/python3
HEADERS := fpf.h fpf_post.h fpf_eval.h $(wildcard examples/*.h) $(wildcard tests/*.h)

EXAMPLES := $(patsubst examples/%.c,build/%,$(wildcard examples/*.c))
TESTS    := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/test_*.c))
# the same tests again under ASan+UBSan (rule below); defined here, before `test:` expands it
SAN_TESTS := build/tests/sanitized_kernels build/tests/sanitized_qkernels build/tests/sanitized_coco build/tests/sanitized_rpn

all: $(EXAMPLES)

build/%: examples/%.c $(HEADERS)
	@mkdir -p build
	$(CC) $(CFLAGS) -I. -Iexamples -Itests $< -o $@ $(LDLIBS)

build/tests/%: tests/%.c $(HEADERS)
	@mkdir -p build/tests
	$(CC) $(CFLAGS) -I. -Iexamples -Itests $< -o $@ $(LDLIBS)

# The quick start in fpf.h's header comment and README.md's C blocks, compiled and run at test
# time by tests/doc_snippets.sh (this is its launcher, with the compiler and flags of the build).
build/tests/doc_snippets: tests/doc_snippets.sh Makefile
	@mkdir -p build/tests
	@printf '#!/bin/sh\nCC="%s" CFLAGS="%s" exec sh tests/doc_snippets.sh\n' '$(CC)' '$(CFLAGS)' > $@
	@chmod +x $@

# Tests again under AddressSanitizer + UBSan, any report fatal: the kernels (pointer arithmetic on
# weights that in-place packing cleared, reads past a panel; with the kernels' FPF_ASSERT
# preconditions on), the fused RPN's tiles (tests/test_rpn.c) and fpf_coco.h's JSON reader (casts
# of out-of-range numbers). Skipped where the toolchain has no sanitizer runtime. clang when
# present: gcc's UBSan does not flag offsets applied to NULL.
SAN_CC    ?= $(shell command -v clang >/dev/null && echo clang || echo $(CC))
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
build/tests/sanitized_%: tests/test_%.c $(HEADERS)
	@mkdir -p build/tests
	@if $(SAN_CC) -std=c99 -O1 -g -ffp-contract=off $(SAN_FLAGS) -DHARNESS_SANITIZED \
	     -include assert.h '-DFPF_ASSERT(c)=assert(c)' -I. -Iexamples -Itests \
	     $< -o build/tests/test_$*_san -lm -lpthread 2>/dev/null; then \
	  printf '#!/bin/sh\nexec build/tests/test_%s_san\n' '$*' > $@; \
	else \
	  printf '#!/bin/sh\necho "%s asan-ubsan: 0 passed, 0 failed, 1 skipped (no sanitizer runtime)"\n' '$*' > $@; \
	fi
	@chmod +x $@

# Every test program prints "<area>: N passed, N failed[, N skipped]"; tests/run.sh adds them up.
# (After SAN_TESTS: a rule's prerequisites are expanded where the rule is read.)
test: headers $(EXAMPLES) $(TESTS) build/tests/neon_kernels build/tests/neon_qkernels $(SAN_TESTS) build/tests/doc_snippets
	@sh tests/run.sh $(TESTS) build/tests/neon_kernels build/tests/neon_qkernels $(SAN_TESTS) build/tests/doc_snippets tests/install.sh

# The NEON kernels: tests/test_kernels.c cross-compiled for aarch64 and run under qemu-user
# (Debian: gcc-aarch64-linux-gnu qemu-user; .ci/run installs them). Without them it is skipped.
CROSS_CC ?= aarch64-linux-gnu-gcc
QEMU     ?= qemu-aarch64
build/tests/neon_kernels: tests/test_kernels.c fpf.h tests/harness.h
	@mkdir -p build/tests
	@if command -v $(CROSS_CC) >/dev/null && command -v $(QEMU) >/dev/null; then \
	  $(CROSS_CC) $(filter-out -fsanitize=%,$(CFLAGS)) -static -I. -Itests tests/test_kernels.c -o build/tests/test_kernels_aarch64 -lm && \
	  printf '#!/bin/sh\nexec $(QEMU) build/tests/test_kernels_aarch64\n' > $@; \
	else \
	  printf '#!/bin/sh\necho "kernels aarch64-qemu: 0 passed, 0 failed, 1 skipped (no $(CROSS_CC) or $(QEMU))"\n' > $@; \
	fi
	@chmod +x $@

# The int8 kernels the same way (NEON and NEON dotprod: qemu's default CPU, max, has dotprod).
build/tests/neon_qkernels: tests/test_qkernels.c fpf.h tests/harness.h
	@mkdir -p build/tests
	@if command -v $(CROSS_CC) >/dev/null && command -v $(QEMU) >/dev/null; then \
	  $(CROSS_CC) $(filter-out -fsanitize=%,$(CFLAGS)) -static -I. -Itests tests/test_qkernels.c -o build/tests/test_qkernels_aarch64 -lm && \
	  printf '#!/bin/sh\nexec $(QEMU) -cpu max build/tests/test_qkernels_aarch64\n' > $@; \
	else \
	  printf '#!/bin/sh\necho "int8 kernels aarch64-qemu: 0 passed, 0 failed, 1 skipped (no $(CROSS_CC) or $(QEMU))"\n' > $@; \
	fi
	@chmod +x $@

# Each header alone, with its implementation, warning-free as C99 (gcc, and clang when present)
# and as C++; and all three in one translation unit.
HDR_FLAGS := -Wall -Wextra -Wpedantic -Werror
# The config macros of the headers' tables, one build each of all three headers in one unit
# ('~' separates flags): FPF_STATIC and FPF_EVAL_STATIC (no unused-function warnings),
# FPF_MALLOC/FPF_FREE, FPF_NO_STDIO, FPF_NO_SIMD, FPF_NO_AMX, FPF_NO_THREADS, FPF_MAX_IMAGE_DIM, FPF_ASSERT,
# FPF_DEF/FPF_EVAL_DEF, and all the optional ones together.
HDR_CONFIGS := -DFPF_NONE \
  -DFPF_STATIC~-DFPF_EVAL_STATIC \
  -include~stdlib.h~'-DFPF_MALLOC(n)=malloc(n)'~'-DFPF_FREE(p)=free(p)' \
  -DFPF_NO_STDIO -DFPF_NO_SIMD -DFPF_NO_AMX -DFPF_NO_WINOGRAD -DFPF_NO_THREADS -DFPF_MAX_IMAGE_DIM=4096 -DFPF_MAX_WORKSPACE_BYTES=1073741824 \
  -include~assert.h~'-DFPF_ASSERT(c)=assert(c)' \
  '-DFPF_DEF=extern'~'-DFPF_EVAL_DEF=extern' \
  -DFPF_STATIC~-DFPF_EVAL_STATIC~-DFPF_NO_STDIO~-DFPF_NO_SIMD~-DFPF_NO_THREADS~-DFPF_MAX_IMAGE_DIM=1024
headers: build/.headers-ok
build/.headers-ok: fpf.h fpf_post.h fpf_eval.h Makefile
	@mkdir -p build/hdr
	@for h in fpf fpf_post fpf_eval; do \
	  M=$$(echo $$h | tr a-z A-Z)_IMPLEMENTATION; \
	  printf '#define %s\n#include "%s.h"\nint main(void){return 0;}\n' $$M $$h > build/hdr/$$h.c; \
	  cp build/hdr/$$h.c build/hdr/$$h.cc; \
	  $(CC) -std=c99 $(HDR_FLAGS) -I. -c build/hdr/$$h.c -o build/hdr/$$h.o || exit 1; \
	  if command -v clang >/dev/null; then clang -std=c99 $(HDR_FLAGS) -I. -c build/hdr/$$h.c -o build/hdr/$$h.o || exit 1; fi; \
	  if command -v c++ >/dev/null; then c++ $(HDR_FLAGS) -I. -c build/hdr/$$h.cc -o build/hdr/$$h.o || exit 1; fi; \
	done
	@printf '#define FPF_ALL_IMPLEMENTATION\n#include "fpf.h"\n#include "fpf_post.h"\n#include "fpf_eval.h"\nint main(void){return 0;}\n' > build/hdr/all.c
	@cp build/hdr/all.c build/hdr/all.cc
	@for cfg in $(HDR_CONFIGS); do \
	  set -f; flags=$$(echo "$$cfg" | tr '~' ' '); set +f; \
	  for cc in $(CC) $$(command -v clang >/dev/null && echo clang); do \
	    $$cc -std=c99 $(HDR_FLAGS) $$flags -I. -c build/hdr/all.c -o build/hdr/all.o || { echo "headers: $$cc $$flags"; exit 1; }; \
	  done; \
	  if command -v c++ >/dev/null; then \
	    c++ $(HDR_FLAGS) $$flags -I. -c build/hdr/all.cc -o build/hdr/all.o || { echo "headers: c++ $$flags"; exit 1; }; fi; \
	done
	@echo "headers: C99 and C++ compile checks clean, every config macro of the header tables"
	@touch $@

build/bench_eval: tests/bench_eval.c fpf_eval.h
	@mkdir -p build
	$(CC) $(CFLAGS) -I. $< -o $@ $(LDLIBS)

bench-eval: build/bench_eval
	./build/bench_eval

# fpf_post.h on a 1280x1024 synthetic field: post-processing, measurements, reporter readout (issue #14).
build/bench_post: tests/bench_post.c fpf.h fpf_post.h examples/fpf_synth.h
	@mkdir -p build
	$(CC) $(CFLAGS) -I. -Iexamples $< -o $@ $(LDLIBS)

bench-post: build/bench_post
	./build/bench_post

fixtures:
	$(PY) weights/reference/make_fixtures.py

# The main job end to end, the README's first command: the shipped synthetic two-channel field
# (fpf_synth seed 1003, weights/models/example/) through the shipped FPF-add model and nucleus model.
DEMO := build/demo
DEMO_MODEL ?= fpf_add
demo: all
	build/fpf_segment --model weights/models/$(DEMO_MODEL).fpf --nucleus-model weights/models/cores.fpf \
	    --nucleus weights/models/example/synth_1003_nucleus.tif --cell weights/models/example/synth_1003_cell.tif \
	    --out $(DEMO) --overlay
	@echo "demo: wrote $(DEMO)/cells.tif nuclei.tif cells.csv nuclei.csv image.csv overlay.png"

# Teaching: every tensor of one forward pass (name, shape, range, time), drawn into build/walkthrough/
# (examples/fpf_walkthrough.c; docs/ARCHITECTURE.md explains each stage).
walkthrough: build/fpf_walkthrough
	build/fpf_walkthrough --draw build/walkthrough

# A synthetic field beside a real one from ../shared/data, to judge realism (written to build/ only).
compare-synth: build/fpf_synth
	build/fpf_synth --compare build/compare_synth.png

# The whole test suite (examples included: the CLI tests run them) under ASan + UBSan, every
# finding fatal. It builds in build/san/, a shadow root whose sources are links to this tree,
# so the tests' relative paths (build/fpf_segment, ../shared) work unchanged there.
SANITIZE_CC    ?= clang
SANITIZE_FLAGS ?= -std=c99 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=all -ffp-contract=off
SAN_ROOT  := build/san
sanitize:
	@mkdir -p $(SAN_ROOT)/build
	@for f in fpf.h fpf_post.h fpf_eval.h examples tests weights Makefile; do ln -sfn ../../$$f $(SAN_ROOT)/$$f; done
	@if [ -d ../shared ]; then ln -sfn "$$(cd ../shared && pwd)" build/shared; fi
	$(MAKE) -C $(SAN_ROOT) --no-print-directory CC="$(SANITIZE_CC)" CFLAGS="$(SANITIZE_FLAGS)" \
	    $(EXAMPLES) $(TESTS)
	cd $(SAN_ROOT) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 sh tests/run.sh $(TESTS)

# Installs as a C library: the three headers, the CLIs, the shipped models (share/fpf/models),
# a pkg-config file (fpf.pc) and a CMake package (find_package(fpf) -> fpf::fpf, header-only).
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^\#define FPF_VERSION_STRING "\(.*\)"/\1/p' fpf.h)
INSTALL_DIR = $(DESTDIR)$(PREFIX)
install: $(EXAMPLES)
	install -d $(INSTALL_DIR)/include $(INSTALL_DIR)/bin $(INSTALL_DIR)/share/fpf/models/example \
	    $(INSTALL_DIR)/lib/pkgconfig $(INSTALL_DIR)/lib/cmake/fpf
	install -m 644 fpf.h fpf_post.h fpf_eval.h $(INSTALL_DIR)/include/
	install -m 755 $(EXAMPLES) $(INSTALL_DIR)/bin/
	install -m 644 weights/models/*.fpf $(INSTALL_DIR)/share/fpf/models/
	install -m 644 weights/models/example/* $(INSTALL_DIR)/share/fpf/models/example/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' packaging/fpf.pc.in > $(INSTALL_DIR)/lib/pkgconfig/fpf.pc
	install -m 644 packaging/fpfConfig.cmake $(INSTALL_DIR)/lib/cmake/fpf/
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@MAJOR@|$(firstword $(subst ., ,$(VERSION)))|' \
	    packaging/fpfConfigVersion.cmake.in > $(INSTALL_DIR)/lib/cmake/fpf/fpfConfigVersion.cmake

uninstall:
	rm -f $(addprefix $(INSTALL_DIR)/include/,fpf.h fpf_post.h fpf_eval.h) \
	    $(patsubst build/%,$(INSTALL_DIR)/bin/%,$(EXAMPLES)) $(INSTALL_DIR)/lib/pkgconfig/fpf.pc
	rm -rf $(INSTALL_DIR)/share/fpf $(INSTALL_DIR)/lib/cmake/fpf

# Fully static CLIs in build/static/: musl (Debian musl-tools) when present, else glibc -static.
STATIC_CC ?= $(shell command -v musl-gcc >/dev/null 2>&1 && echo musl-gcc || echo $(CC))
static: $(patsubst build/%,build/static/%,$(EXAMPLES))
	@ls -l $^ | awk '{printf "%-28s %6.2f MB\n", $$NF, $$5 / 1048576}'
build/static/%: examples/%.c $(HEADERS)
	@mkdir -p build/static
	$(STATIC_CC) $(CFLAGS) -static -I. -Iexamples -Itests $< -o $@ $(LDLIBS)
	strip $@

# libFuzzer harnesses (tests/fuzz/), one per parser; seed corpora are generated into
# build/fuzz/corpus/ (never committed). make fuzz FUZZ_SECONDS=N runs each for N seconds, one
# after the other on one core; crash files go to build/fuzz/artifacts/<target>/.
FUZZ_CC      ?= clang
FUZZ_FLAGS   ?= -std=c99 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -ffp-contract=off
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := model tiff png inflate lzw packbits coco rle labels manifest
FUZZ_ZLIB    := $(shell [ -f /usr/include/zlib.h ] && echo yes)
build/fuzz/fuzz_inflate: FUZZ_EXTRA = $(if $(FUZZ_ZLIB),-DFUZZ_ZLIB -lz)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/fuzz_image_common.h $(HEADERS) examples/fpf_eval.c
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -I. -Iexamples -Itests -Itests/fuzz $< -o $@ $(FUZZ_EXTRA) $(LDLIBS)
build/fuzz/make_corpus: tests/fuzz/make_corpus.c $(HEADERS)
	@mkdir -p build/fuzz
	$(CC) $(CFLAGS) -I. -Iexamples -Itests $< -o $@ $(LDLIBS)
build/fuzz/corpus/.made: build/fuzz/make_corpus tests/fuzz/make_corpus.sh build/fpf_synth
	sh tests/fuzz/make_corpus.sh build/fuzz/corpus build/fuzz/make_corpus
	@touch $@
fuzz-build: $(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))
fuzz: fuzz-build build/fuzz/corpus/.made
	sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
# The harnesses as plain programs (any compiler): replay files, e.g. a crash found elsewhere.
build/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(HEADERS) examples/fpf_eval.c
	@mkdir -p build/fuzz
	$(CC) $(CFLAGS) -DFUZZ_REPLAY -I. -Iexamples -Itests -Itests/fuzz $< -o $@ $(LDLIBS)

# Soak (a benchmark): 1000 images through one session in one process, RSS every 100 runs, then
# a batch of mixed sizes. SOAK_ARGS adds options (bench/soak.c: --runs --height --width --threads).
SOAK_ARGS ?=
build/soak: bench/soak.c $(HEADERS) examples/fpf_synth.h
	@mkdir -p build
	$(CC) $(CFLAGS) -I. -Iexamples $< -o $@ $(LDLIBS)
soak: build/soak
	build/soak $(SOAK_ARGS)
	build/soak --mixed $(SOAK_ARGS)

clean:
	rm -rf build

# Rules owned by sub-projects: the Keras converter and training (weights/), benchmarks (bench/).
-include weights/weights.mk
-include bench/bench.mk

.PHONY: all test fixtures clean bench bench-eval bench-post headers demo compare-synth walkthrough sanitize install \
        uninstall static fuzz fuzz-build soak

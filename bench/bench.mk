# bench/bench.mk - benchmarks (not tests); included by the top Makefile (-include bench/bench.mk).
#
#   make bench        full: paper config, FPF-add, 1024x1280, threads 1 and 2, 1 warm-up + 5 timed runs,
#                     fpf vs PyTorch (reference + fast trunk) vs ONNX Runtime (npm; fp32, and int8 QDQ
#                     with fpf's own int8 scales: bench/peers/qdq_onnx.py); writes
#                     build/bench/BENCHMARKS.generated.md. Takes a long time; wants a quiet machine.
#   make bench-quick  smoke test of the same pipeline: tiny config, 256x320, 2 runs.
#   make bench-peak   only the fp32 FMA peak.
# Extra driver options: make bench BENCH_ARGS="--threads 2 --runs 7"  (see /usr/bin/python3 bench/run.py -h)
#
# Needs: cc, /usr/bin/python3 with numpy + torch (+ python3-onnx for the ONNX export), node + npm
# (onnxruntime-node is installed into build/bench/node_modules on first use).

BENCH_DIR    := build/bench
BENCH_CC     ?= $(CC)
BENCH_CFLAGS ?= $(CFLAGS)
BENCH_PY     ?= /usr/bin/python3
BENCH_ARGS   ?=
BENCH_ORT    := $(BENCH_DIR)/node_modules/onnxruntime-node/package.json

$(BENCH_DIR)/peak: bench/peak.c
	@mkdir -p $(BENCH_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -I. -Iexamples -Itests $< -o $@ $(LDLIBS)

$(BENCH_DIR)/bench_fpf: bench/bench_fpf.c bench/peak.c $(HEADERS)
	@mkdir -p $(BENCH_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -fopenmp -I. -Iexamples -Itests $< -o $@ $(LDLIBS)

# ONNX Runtime from npm. Its postinstall would fetch a CUDA provider from the network and fail;
# the CPU binary is in the tarball already.
$(BENCH_ORT):
	@mkdir -p $(BENCH_DIR)
	@test -f $(BENCH_DIR)/package.json || (cd $(BENCH_DIR) && npm init -y >/dev/null)
	cd $(BENCH_DIR) && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node

bench-deps: $(BENCH_DIR)/peak $(BENCH_DIR)/bench_fpf build/fpf_mkmodel build/fpf_quantize
	@$(BENCH_PY) -c "import numpy, torch" 2>/dev/null || { echo "bench: $(BENCH_PY) needs numpy and torch (apt-get install python3-torch)"; exit 1; }
	@$(BENCH_PY) -c "import onnx" 2>/dev/null || echo "bench: python3-onnx is missing (apt-get install python3-onnx); the ONNX export and the int8 QDQ peer may fail"
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	  $(MAKE) --no-print-directory $(BENCH_ORT) || echo "bench: npm install onnxruntime-node failed; ONNX Runtime is skipped"; \
	else echo "bench: node/npm not found; ONNX Runtime is skipped"; fi

bench: bench-deps
	env -u OPENBLAS_CORETYPE $(BENCH_PY) bench/run.py $(BENCH_ARGS)

bench-quick: bench-deps
	env -u OPENBLAS_CORETYPE $(BENCH_PY) bench/run.py --quick $(BENCH_ARGS)

bench-peak: $(BENCH_DIR)/peak
	$(BENCH_DIR)/peak

.PHONY: bench bench-quick bench-peak bench-deps

# One fp32 conv timed alone on one thread (kernel micro-benchmark): build/bench/conv_bench --help-less, see its top comment.
$(BENCH_DIR)/conv_bench: bench/conv_bench.c $(HEADERS)
	@mkdir -p $(BENCH_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -I. $< -o $@ $(LDLIBS)

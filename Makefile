# fpf - Makefile. Targets:
#   make            build the example CLIs into build/
#   make test       build and run every tests/test_*.c (no Python needed); ends with "N passed, N failed"
#   make fixtures   regenerate tests/fixtures from the Python reference (needs /usr/bin/python3 + torch)
#   make bench      benchmarks (not tests)
# Flags: -O2, no -march=native (binaries must move between lab PCs), no -ffast-math.
CC      ?= cc
CFLAGS  ?= -std=c99 -O2 -g -Wall -Wextra -Wpedantic -ffp-contract=off
LDLIBS  ?= -lm -lpthread
PY      ?= /usr/bin/python3
HEADERS := fpf.h fpf_post.h fpf_eval.h $(wildcard examples/*.h) $(wildcard tests/*.h)

EXAMPLES := $(patsubst examples/%.c,build/%,$(wildcard examples/*.c))
TESTS    := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/test_*.c))

all: $(EXAMPLES)

build/%: examples/%.c $(HEADERS)
	@mkdir -p build
	$(CC) $(CFLAGS) -I. -Iexamples $< -o $@ $(LDLIBS)

build/tests/%: tests/%.c $(HEADERS)
	@mkdir -p build/tests
	$(CC) $(CFLAGS) -I. -Iexamples -Itests $< -o $@ $(LDLIBS)

# Every test program prints "<area>: N passed, N failed[, N skipped]"; tests/run.sh adds them up.
test: $(EXAMPLES) $(TESTS)
	@sh tests/run.sh $(TESTS)

fixtures:
	$(PY) weights/reference/make_fixtures.py

clean:
	rm -rf build

.PHONY: all test fixtures clean bench

#!/bin/sh
# tests/fuzz/run.sh SECONDS TARGET[:SECONDS]... - runs each harness build/fuzz/fuzz_TARGET under
# libFuzzer for SECONDS (or the target's own) on one core, on its corpus in build/fuzz/corpus/TARGET (new inputs are added there),
# crash files to build/fuzz/artifacts/TARGET/. Prints one line per target (executions, edge
# coverage, features, corpus size) and fails if any target found a crash.
secs=$1; shift
fail=0; total=0
printf '%-9s %6s %12s %8s %8s %7s  %s\n' target secs execs cov ft corpus result
for arg in "$@"; do
    t=${arg%%:*}; secs_t=$secs; [ "$t" != "$arg" ] && secs_t=${arg#*:}
    mkdir -p build/fuzz/artifacts/$t build/fuzz/corpus/$t
    log=build/fuzz/$t.log
    build/fuzz/fuzz_$t build/fuzz/corpus/$t -max_total_time="$secs_t" -timeout=20 -rss_limit_mb=2560 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$t/ >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    if [ $rc -eq 0 ]; then res=ok; else res="CRASH (exit $rc, see $log)"; fail=1; fi
    printf '%-9s %6s %12s %8s %8s %7s  %s\n' "$t" "$secs_t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$res"
    total=$((total + ${execs:-0}))
done
echo "fuzz: $total executions in total"
exit $fail

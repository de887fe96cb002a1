#!/bin/sh
# Runs the whole training schedule of issue #6, resumably: every model that has no build/train/NAME/done.json
# is trained (or continued from its checkpoint) with `make resume-NAME`, at most JOBS at a time, FPF models
# only after the nucleus model is done; each finished model is exported to weights/models/NAME.fpf.
#   nohup sh weights/train/schedule.sh > build/train/schedule.log 2>&1 &
# Models already being trained by another process (a live PID in build/train/NAME.pid) are waited for.
JOBS=${JOBS:-3}
ORDER=${ORDER:-"cores without_nucleus with_nucleus fpf_add_weighted fpf_add fpf_concat_weighted fpf_concat"}
mkdir -p build/train
alive() { [ -f build/train/$1.pid ] && kill -0 "$(cat build/train/$1.pid)" 2>/dev/null; }
done_() { [ -f build/train/$1/done.json ]; }
running() { n=0; for m in $ORDER; do alive $m && n=$((n + 1)); done; echo $n; }
while :; do
    left=0
    for m in $ORDER; do
        if done_ $m; then
            [ -f weights/models/$m.fpf ] && [ weights/models/$m.fpf -nt build/train/$m/done.json ] || {
                echo "$(date +%T) export $m"; make -s export-$m; }
            continue
        fi
        left=$((left + 1))
        alive $m && continue
        case $m in fpf_*) done_ cores || continue ;; esac
        [ "$(running)" -lt "$JOBS" ] || continue
        echo "$(date +%T) start $m"
        nohup make -s resume-$m >> build/train/$m.out 2>&1 &
        echo $! > build/train/$m.pid
        sleep 5
    done
    [ $left -eq 0 ] && break
    sleep 30
done
echo "$(date +%T) schedule done"

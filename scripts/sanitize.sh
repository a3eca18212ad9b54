#!/usr/bin/env bash
# sanitize.sh: the whole Criterion suite built with gcc under AddressSanitizer + UndefinedBehavior-
# Sanitizer (UB aborts: -fno-sanitize-recover), then a train-and-sample smoke run of the difu
# program under LeakSanitizer (part of ASan): `difu train` (tiny model, a few steps, checkpoints
# and a sample grid) and `difu sample` (DDIM, one PNG per image) must exit 0 with no leak, no
# memory error and no UB report. Prints the Synthesis lines and one last line
# `N passed, N failed` (the smoke run counts as one test); exits non-zero if anything failed.
#   scripts/sanitize.sh [BUILD_DIR]     default build-asan
#   scripts/sanitize.sh --smoke-only [BUILD_DIR]   build, then the smoke run alone
#   scripts/sanitize.sh --no-smoke [BUILD_DIR]     build and the suite alone
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="" smoke_only=0 no_smoke=0
for arg in "$@"; do
    case "$arg" in
        --smoke-only) smoke_only=1 ;;
        --no-smoke) no_smoke=1 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        -*) echo "sanitize.sh: unknown option '$arg'" >&2; exit 2 ;;
        *) dir=$arg ;;
    esac
done
dir=${dir:-build-asan}
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
log="$dir/meson-logs/testlog.json"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=exitcode=23

rc=0
if [ ! -f "$dir/build.ninja" ]; then
    CC=gcc meson setup "$dir" "$root" -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
        -Dc_args=-fno-sanitize-recover=undefined || rc=$?
fi
[ "$rc" -ne 0 ] || ninja -C "$dir" || rc=$?
if [ "$smoke_only" -eq 0 ]; then
    rm -f "$log"
    # ASan runs 2-3x slower: give every test 4x its timeout
    [ "$rc" -ne 0 ] || meson test -C "$dir" -v --timeout-multiplier 4 || rc=$?
fi

# --- the smoke run: a synthetic 8x8 IDX set, difu train, difu sample ---
smoke_failed=1
if [ "$no_smoke" -eq 1 ]; then
    echo
    python3 "$root/scripts/test-summary.py" "asan=$log" || rc=1
    exit "$rc"
fi
if [ "$rc" -eq 0 ] || [ -x "$dir/difu" ]; then
    work=$(mktemp -d)
    python3 - "$work/data" <<'PY'
import os, struct, sys
d = sys.argv[1]
os.makedirs(d)
n = 64
with open(os.path.join(d, "train-images-idx3-ubyte"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 8, 8))
    for i in range(n):
        q = i % 4
        f.write(bytes(220 if (y // 4 == q // 2 and x // 4 == q % 2) else 20 + (i + x + y) % 16
                      for y in range(8) for x in range(8)))
with open(os.path.join(d, "train-labels-idx1-ubyte"), "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(i % 4 for i in range(n)))
PY
    echo "=== sanitize: smoke: difu train + difu sample under ASan/LSan/UBSan ==="
    if "$dir/difu" train --data "idx:$work/data" --model tiny --steps 6 --batch 8 --cond \
            --threads 2 --out "$work/run" --ckpt-every 3 --sample-every 4 --sample-steps 2 \
            --log-every 2 &&
       "$dir/difu" sample --ckpt "$work/run/checkpoint.safetensors" --sampler ddim --steps 3 \
            --n 2 --all-classes --threads 2 --out "$work/grid.png" --out-dir "$work/each" &&
       "$dir/difu" digest "$work/run/checkpoint.safetensors" | tail -2 &&
       [ -s "$work/grid.png" ] && [ -s "$work/run/loss.csv" ]; then
        smoke_failed=0
        echo "sanitize: smoke run clean (no leaks, no memory errors, no UB)"
    else
        echo "sanitize: smoke run FAILED (see the report above)"
    fi
    rm -rf "$work"
fi
echo
if [ "$smoke_only" -eq 1 ]; then
    echo "$((1 - smoke_failed)) passed, $smoke_failed failed"
    exit "$smoke_failed"
fi
python3 "$root/scripts/test-summary.py" --extra-passed=$((1 - smoke_failed)) \
    --extra-failed="$smoke_failed" "asan=$log" || rc=1
exit "$rc"

#!/usr/bin/env bash
# fuzz/run.sh: runs each libFuzzer harness of BUILD_DIR (fuzz/build.sh) for SECONDS over its seed
# corpus fuzz/corpus/<name> (new inputs go to a scratch folder, not the committed corpus), after
# replaying fuzz/regressions/<name>/*. One line per harness: executions, coverage, new corpus
# inputs and OK or CRASH (a crash, leak, UB report, timeout or out-of-memory); the input that
# failed is kept under ARTIFACTS (default BUILD_DIR/fuzz-artifacts). Exits 1 if any harness failed.
#   fuzz/run.sh [-t SECONDS] [-b BUILD_DIR] [-a ARTIFACTS] [-k KEEP_CORPUS_DIR] [NAME...]
# -k keeps the grown corpora (KEEP_CORPUS_DIR/<name>) for minimising into fuzz/corpus later.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=30 build="$root/build-fuzz" artifacts="" keep=""
while getopts "t:b:a:k:h" o; do
    case "$o" in
        t) secs=$OPTARG ;;
        b) build=$OPTARG ;;
        a) artifacts=$OPTARG ;;
        k) keep=$OPTARG ;;
        *) sed -n '2,9p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
    for f in "$root"/fuzz/fuzz_*.c; do names+=("$(basename "$f" .c)"); done
fi
artifacts=${artifacts:-$build/fuzz-artifacts}
mkdir -p "$artifacts"
failed=0 passed=0
for name in "${names[@]}"; do
    bin="$build/fuzz/$name"
    if [ ! -x "$bin" ]; then
        echo "$name: not built ($bin): CRASH"
        failed=$((failed + 1))
        continue
    fi
    work=${keep:+$keep/$name}
    [ -n "$work" ] || work=$(mktemp -d)
    mkdir -p "$work"
    log=$(mktemp)
    # 1. regression inputs, each must run clean
    regs=("$root/fuzz/regressions/$name"/*)
    status=OK
    if [ -e "${regs[0]}" ]; then
        if ! timeout 300 "$bin" -close_fd_mask=3 -timeout=25 "${regs[@]}" >"$log" 2>&1; then
            status="CRASH (regression input)"
            tail -40 "$log"
        fi
    fi
    # 2. fuzzing from the seeds; the checkpoint seeds are tens of KB
    max_len=4096
    [ "$name" = fuzz_checkpoint ] && max_len=131072
    [ "$name" = fuzz_cifar ] && max_len=8192
    if [ "$status" = OK ]; then
        timeout $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
            -max_len=$max_len -close_fd_mask=3 -print_final_stats=1 \
            -artifact_prefix="$artifacts/$name-" "$work" "$root/fuzz/corpus/$name" >"$log" 2>&1
        rc=$?
        if [ "$rc" -ne 0 ]; then
            status="CRASH (exit $rc; artifact in $artifacts)"
            grep -E "ERROR|SUMMARY|fuzz check|runtime error|Test unit written" "$log" | head -20
        fi
    fi
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    new=$(find "$work" -type f | wc -l)
    echo "$name: ${execs:-?} execs in ${secs} s, ${cov:-cov: ?}, $new new corpus inputs: $status"
    if [ "$status" = OK ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    [ -n "$keep" ] || rm -rf "$work"
    rm -f "$log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

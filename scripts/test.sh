#!/usr/bin/env bash
# test.sh: builds (scripts/build.sh) and runs the Criterion suites with `meson test -v`, then
# prints every Synthesis line and one last line `N passed, N failed`. Exits non-zero if anything
# failed.
#   scripts/test.sh [BUILD_DIR]            native, BUILD_DIR defaults to build
#   scripts/test.sh --cross [BUILD_DIR]    aarch64 under qemu, defaults to build-aarch64
# Packages come from scripts/setup.sh (--cross for the aarch64 side).
# DIFU_TEST_TIMEOUT_MULTIPLIER scales meson's per-test timeout (default 1 native, 2 under qemu).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cross=0
dir=""
for arg in "$@"; do
    case "$arg" in
        --cross) cross=1 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        -*) echo "test.sh: unknown option '$arg'" >&2; exit 2 ;;
        *) dir=$arg ;;
    esac
done
if [ "$cross" -eq 1 ]; then
    dir=${dir:-build-aarch64}; label=aarch64; mult=${DIFU_TEST_TIMEOUT_MULTIPLIER:-2}
else
    dir=${dir:-build}; label=native; mult=${DIFU_TEST_TIMEOUT_MULTIPLIER:-1}
fi
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
log="$dir/meson-logs/testlog.json"

rm -f "$log"    # a failed build must not leave an old log to summarise
rc=0
if [ "$cross" -eq 1 ]; then
    "$root/scripts/build.sh" --cross "$dir" || rc=$?
else
    "$root/scripts/build.sh" "$dir" || rc=$?
fi
[ "$rc" -ne 0 ] || meson test -C "$dir" -v --timeout-multiplier "$mult" || rc=$?
echo
python3 "$root/scripts/test-summary.py" "$label=$log" || rc=1
exit "$rc"

#!/usr/bin/env bash
# fuzz/build.sh: configures and builds the libFuzzer harnesses with clang in BUILD_DIR
# (default build-fuzz): the library with -fsanitize=fuzzer-no-link + ASan + UBSan (UB aborts),
# oneDNN off (it is not instrumented and the parsers do not use it). Needs scripts/setup.sh --fuzz.
#   fuzz/build.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build-fuzz}
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
cc=$(command -v clang-14 || command -v clang || true)
[ -n "$cc" ] || { echo "fuzz/build.sh: clang not found (scripts/setup.sh --fuzz)" >&2; exit 1; }
if [ ! -f "$dir/build.ninja" ]; then
    CC="$cc" meson setup "$dir" "$root" -Dfuzz=true -Donednn=disabled -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fi
targets=(fuzz/make_seeds)
for f in "$root"/fuzz/fuzz_*.c; do
    targets+=("fuzz/$(basename "$f" .c)")
done
ninja -C "$dir" "${targets[@]}"

#!/usr/bin/env bash
# build.sh: configures a build directory once (meson) and builds it (ninja). Re-runnable.
#   scripts/build.sh [BUILD_DIR]            native, BUILD_DIR defaults to build
#   scripts/build.sh --cross [BUILD_DIR]    aarch64 cross build, defaults to build-aarch64
# Extra `meson setup` options go after `--` and apply only when the directory is first configured.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cross=0
dir=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cross) cross=1 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        -*) echo "build.sh: unknown option '$1'" >&2; exit 2 ;;
        *) dir=$1 ;;
    esac
    shift
done
if [ "$cross" -eq 1 ]; then
    dir=${dir:-build-aarch64}
    extra=(--cross-file "$root/cross/aarch64-linux-gnu.ini" "${extra[@]}")
else
    dir=${dir:-build}
fi
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac

[ -f "$dir/build.ninja" ] || meson setup "$dir" "$root" "${extra[@]}"
ninja -C "$dir"

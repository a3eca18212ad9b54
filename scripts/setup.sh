#!/usr/bin/env bash
# setup.sh: installs the Debian packages difu needs to build and test. Re-runnable.
#   ./scripts/setup.sh              native build, tests, Fashion-MNIST
#   ./scripts/setup.sh --cross      also the aarch64 cross toolchain, qemu-user and an arm64
#                                   library overlay in /opt/arm64-overlay (see shared/TOOLCHAIN.md)
#   ./scripts/setup.sh --with-torch also PyTorch (reference / side-by-side scripts only)
#   ./scripts/setup.sh --fuzz       also clang 14 with its libFuzzer / sanitizer runtimes and
#                                   OpenMP (fuzz/build.sh)
# Runs as root, or through sudo otherwise. Waits for (and retries on) a held dpkg lock, and
# finishes a half-configured dpkg before installing.
set -euo pipefail

cross=0 torch=0 fuzz=0
for arg in "$@"; do
    case "$arg" in
        --cross) cross=1 ;;
        --fuzz) fuzz=1 ;;
        --with-torch) torch=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

OVERLAY=/opt/arm64-overlay    # cross/aarch64-linux-gnu.ini names it too
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# No stdin in CI: keep changed config files without asking when multiarch upgrades amd64 packages.
DPKG_OPTS=(--force-confdef --force-confold)
APT=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -y -o DPkg::Lock::Timeout=600
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

NATIVE=(build-essential meson ninja-build pkg-config libdnnl-dev libxxhash-dev libcriterion-dev
        libpng-dev zlib1g-dev libcjson-dev dataset-fashion-mnist python3-numpy)
TORCH=(python3-torch)
FUZZ=(clang-14 libclang-rt-14-dev libomp-14-dev)
CROSS_TOOLS=(gcc-aarch64-linux-gnu qemu-user qemu-user-binfmt)
# arm64 packages that co-install with their amd64 twins (Multi-Arch: same, identical headers).
CROSS_ARM64=(pkgconf:arm64 libc6:arm64 libgomp1:arm64 libxxhash-dev:arm64 libpng-dev:arm64
             zlib1g-dev:arm64 libcjson-dev:arm64 libdnnl2:arm64 libffi8:arm64 libgit2-1.5:arm64)
# arm64 packages that cannot (libcriterion-dev:arm64 removes the amd64 one; libdnnl-dev:arm64
# clashes on dnnl_config.h): unpacked into the overlay, never installed.
OVERLAY_DEBS=(libcriterion3:arm64 libcriterion-dev:arm64 libnanomsg5:arm64 libdnnl-dev:arm64)

log() { echo "setup.sh: $*" >&2; }

# Runs "$@" up to 6 times, repairing dpkg and backing off between tries (lock held, mirror hiccup).
retry() {
    local n
    for n in 1 2 3 4 5 6; do
        "$@" && return 0
        log "'$*' failed (try $n of 6); retrying in $((n * 15)) s"
        sleep $((n * 15))
        repair_dpkg || true
    done
    log "giving up on '$*'"
    return 1
}

# A previous run that died mid-install leaves packages unpacked but not configured.
repair_dpkg() {
    if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
        log "dpkg is half-configured; running dpkg --configure -a"
        $SUDO env DEBIAN_FRONTEND=noninteractive dpkg "${DPKG_OPTS[@]}" --configure -a
    fi
}

# Prints the packages of "$@" that are not installed (arch-qualified names allowed).
missing() {
    local have native p
    native=$(dpkg --print-architecture)
    have=$(dpkg-query -W -f='${db:Status-Status} ${Package}:${Architecture}\n' |
           awk '$1 == "installed" {print $2}')
    for p in "$@"; do
        case "$p" in
            *:*) grep -qxF "$p" <<<"$have" || echo "$p" ;;
            *) grep -qxF -e "$p:$native" -e "$p:all" <<<"$have" || echo "$p" ;;
        esac
    done
}

updated=0
apt_update() {
    [ "$updated" -eq 1 ] && return 0
    retry "${APT[@]}" update
    updated=1
}

install_missing() {
    local want
    mapfile -t want < <(missing "$@")
    [ "${#want[@]}" -eq 0 ] && return 0
    log "installing ${want[*]}"
    apt_update
    retry "${APT[@]}" install --no-install-recommends "${want[@]}"
}

retry repair_dpkg

wanted=("${NATIVE[@]}")
[ "$torch" -eq 1 ] && wanted+=("${TORCH[@]}")
[ "$fuzz" -eq 1 ] && wanted+=("${FUZZ[@]}")
if [ "$cross" -eq 1 ]; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
        updated=0    # the arm64 lists must be fetched
    fi
    wanted+=("${CROSS_TOOLS[@]}" "${CROSS_ARM64[@]}")
fi
# apt-get update runs first whenever anything is missing (so always on a fresh machine).
install_missing "${wanted[@]}"

[ "$cross" -eq 1 ] || { log "native packages ready"; exit 0; }

# --- arm64 overlay: the -dev packages that cannot be installed next to the amd64 ones ---
# Each overlay deb must match the installed arm64 runtime's version; the stamp records them.
stamp="$OVERLAY/.debs"
candidates() { apt-cache policy "${OVERLAY_DEBS[@]}" 2>/dev/null | awk '/^[^ ]/ {p = $1} /Candidate:/ {print p, $2}'; }
want_stamp=$(candidates)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ] || grep -q '(none)' <<<"$want_stamp"; then
    apt_update
    want_stamp=$(candidates)
    tmp=$(mktemp -d)    # as root apt warns "Download is performed unsandboxed": harmless
    (cd "$tmp" && retry apt-get -q download "${OVERLAY_DEBS[@]}")
    $SUDO rm -rf "$OVERLAY"
    $SUDO mkdir -p "$OVERLAY/debs"
    for d in "$tmp"/*.deb; do
        $SUDO dpkg-deb -x "$d" "$OVERLAY"
        $SUDO mv "$d" "$OVERLAY/debs/"
    done
    rmdir "$tmp"
    echo "$want_stamp" | $SUDO tee "$stamp" >/dev/null
    log "arm64 overlay unpacked in $OVERLAY"
fi
# The shipped libdnnl.so is a relative link that dangles outside /usr; point it at the runtime.
$SUDO ln -sfn /usr/lib/aarch64-linux-gnu/libdnnl.so.2 "$OVERLAY/usr/lib/aarch64-linux-gnu/libdnnl.so"

# --- qemu via binfmt_misc: Criterion re-execs the aarch64 test binary, so the kernel must run it ---
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
    $SUDO mount -t binfmt_misc binfmt_misc "$binfmt" ||
        { log "cannot mount binfmt_misc (needs CAP_SYS_ADMIN); aarch64 Criterion tests cannot run"; exit 1; }
fi
if [ ! -e "$binfmt/qemu-aarch64" ]; then
    $SUDO sh -c "cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register" ||
        { log "cannot register qemu-aarch64 with binfmt_misc"; exit 1; }
fi
grep -qx enabled "$binfmt/qemu-aarch64" || $SUDO sh -c "echo 1 > $binfmt/qemu-aarch64"
grep -qx enabled "$binfmt/qemu-aarch64" || { log "binfmt qemu-aarch64 is not enabled"; exit 1; }
log "native + aarch64 cross packages ready"

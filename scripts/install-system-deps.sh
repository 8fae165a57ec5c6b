#!/usr/bin/env bash
# Install, only where missing, the Debian (bookworm) packages Runyard's tests and
# compute kinds need. Safe to run again: with everything present it does nothing and
# needs no network. Usage (as root, or with sudo): scripts/install-system-deps.sh [GROUP…]
#   core        openmpi-bin libopenmpi-dev (MPI runs, mpi4py builds), bubblewrap util-linux
#               (the local runs' sandbox), nodejs npm (the web app), chromium (browser
#               tests), docker-compose (validates docker-compose.yml)
#   slurm       slurmctld slurmd slurm-client munge: the private test cluster
#               (tests/infra/slurm_cluster.py)
#   containers  podman runc conmon netavark aardvark-dns iptables slirp4netns iproute2
#               util-linux catatonit uidmap fuse-overlayfs: the private Docker-API engine
#               (tests/infra/podman_engine.py); mmdebstrap gpg debian-archive-keyring
#               ca-certificates: its Debian-built base image
# No group: all of them.
set -euo pipefail

declare -A GROUPS_OF=(
  [core]="openmpi-bin libopenmpi-dev bubblewrap util-linux nodejs npm chromium docker-compose"
  [slurm]="slurmctld slurmd slurm-client munge"
  [containers]="podman runc conmon netavark aardvark-dns iptables slirp4netns iproute2 util-linux catatonit
                uidmap fuse-overlayfs mmdebstrap gpg debian-archive-keyring ca-certificates"
)
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(core slurm containers)

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing=()
for group in "${groups[@]}"; do
  [ -n "${GROUPS_OF[$group]:-}" ] || { echo "install-system-deps: unknown group '$group'" >&2; exit 2; }
  for pkg in ${GROUPS_OF[$group]}; do
    # Node.js may come from elsewhere (nvm, NodeSource): an npm on PATH is enough.
    if [ "$pkg" = nodejs ] || [ "$pkg" = npm ]; then command -v npm >/dev/null 2>&1 && continue; fi
    installed "$pkg" || missing+=("$pkg")
  done
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all present (${groups[*]})"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || { echo "install-system-deps: no apt-get; install by hand: ${missing[*]}" >&2; exit 1; }
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-system-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
for pkg in "${missing[@]}"; do
  installed "$pkg" || { echo "install-system-deps: $pkg still not installed" >&2; exit 1; }
done
echo "install-system-deps: done"

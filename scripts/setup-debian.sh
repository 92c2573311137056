#!/usr/bin/env bash
# Install the Debian packages the project needs, only those missing; apt-get update at most once.
set -euo pipefail

declare -A need=(
  [docker-registry]=docker-registry   # OCI distribution registry (ACR stand-in)
  [buildah]=buildah                   # image builds without a Docker daemon
  [mmdebstrap]=mmdebstrap             # local Debian base image (no Docker Hub here)
  [git]=git
  [npm]=npm                           # Azurite and GitHub's OpenAPI description
  [wrk]=wrk                           # C load generator for bench/
  [nginx]=nginx-light                 # the pod's buffering proxy, run by tests/deploy/test_proxy.py
  [chromium]=chromium                 # headless browser: tests/bot/report/test_browser.py
)
missing=()
for tool in "${!need[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/bin/$tool" ]; then
    missing+=("${need[$tool]}")
  fi
done
# kubectl ships kustomize; Debian's kubernetes-client is the fallback where no kubectl exists.
if ! command -v kubectl >/dev/null 2>&1; then
  missing+=(kubernetes-client)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
# As root (this machine, CI) apt-get runs directly; a non-root user (a hosted agent, a laptop)
# goes through sudo. The bot's CI stages need none of this (they only `pip install .`).
apt=(apt-get)
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt=(sudo DEBIAN_FRONTEND=noninteractive apt-get)
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

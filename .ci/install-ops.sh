#!/usr/bin/env bash
# Installs the tools the operations tests (test/ops-*.test.ts) need, from Debian's packages:
#   promtool + prometheus  (package `prometheus`)        — metric lint, rule parsing, a real scraping server
#   kubectl with kustomize (package `kubernetes-client`) — renders deploy/k8s overlays offline
# Idempotent and quick: anything already on PATH is left alone. Never leaves a Prometheus service
# running (a policy-rc.d forbids service starts during the install, and any instance the package
# started anyway is stopped). Run as root (CI is root); `sudo` is used otherwise when present.
set -euo pipefail

SUDO=''
if [ "$(id -u)" != 0 ]; then SUDO='sudo'; fi

need=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# Any kubectl with a built-in `kustomize` subcommand will do (Debian's is 1.20 with kustomize v2.0.3;
# deploy/k8s is written to render with that and with current kustomize v5).
if ! kubectl kustomize --help >/dev/null 2>&1; then need+=(kubernetes-client); fi

if [ ${#need[@]} -eq 0 ]; then
  echo "install-ops: promtool, prometheus and kubectl already present"
  exit 0
fi

echo "install-ops: installing ${need[*]} from Debian"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
own_policy=''
if [ ! -e "$policy" ]; then
  # 101 = "action forbidden": invoke-rc.d will not start the prometheus service on :9090.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ -n "$own_policy" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

# Refresh the package lists only when the candidate is unknown (a fresh machine), to keep reruns fast.
for p in "${need[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    break
  fi
done
if ! $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
  # Stale package lists (a version no longer on the mirror): refresh once and retry.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Belt and braces: no packaged prometheus left serving (the tests start their own on free ports).
if command -v pgrep >/dev/null 2>&1; then
  for pid in $(pgrep -x prometheus -u prometheus 2>/dev/null || true); do $SUDO kill "$pid" || true; done
fi

promtool --version 2>&1 | head -1
kubectl version --client 2>&1 | head -2

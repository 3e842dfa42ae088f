#!/usr/bin/env bash
# Stops exactly what scripts/stack/up.sh started, by the PIDs in its pid files (TERM, wait, then KILL).
# A reused Docker engine is left alone. State (certificates, etcd data, registry storage) is kept, so the next
# up.sh is fast; pass --purge to delete the state directory and the Docker data root as well.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
purge=0
[[ "${1:-}" == --purge ]] && purge=1

# The Kubernetes parts and the registries stop in parallel; then dockerd (which stops its containerd), then a
# leftover containerd.
stop_all 15 prometheus toxiproxy pod-app kwok kube-scheduler kube-controller-manager kube-apiserver registry-5001 registry-5000
stop_all 15 etcd
stop_all 30 dockerd
stop_all 10 containerd
# Anything else recorded (e.g. a component added later) is stopped too.
for f in "$RUN"/*.pid; do
  [[ -e "$f" ]] || continue
  name="$(basename "$f" .pid)"
  [[ "$name" == dockerd.daemon ]] && { rm -f "$f"; continue; }
  stop_all 10 "$name"
done
rm -f "$STATE/docker.sock" "$RUN/pod-app.sock" "$RUN/pod-app.sha256"

if (( purge )); then
  for f in "$STATE/docker.data-root" "$STATE/docker.exec-root"; do
    if [[ -s "$f" ]]; then
      d="$(cat "$f")"
      case "$d" in /var/lib/kube-ship/*|/run/kube-ship/*) umount -R "$d" 2>/dev/null || true; rm -rf "$d" ;; esac
    fi
  done
  rm -rf "$STATE"
  say "purged $STATE"
fi
say "stack down"

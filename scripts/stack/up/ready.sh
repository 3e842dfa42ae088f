# shellcheck shell=bash
# Phase of up.sh: waits until KWOK reports its nodes Ready (and, if it was just started, holds their leases) and the
# controller-manager has made the namespace's default ServiceAccount.
wait_for kwok 60 k wait --for=condition=Ready node -l type=kwok --timeout=1s
if (( KWOK_FRESH )); then   # the new kwok holds the node leases: it is managing the nodes
  wait_for kwok 60 k -n kube-node-lease get lease kwok-node-0 kwok-node-1 kwok-node-2
fi
wait_for kube-controller-manager 60 k -n "$NS" get serviceaccount default

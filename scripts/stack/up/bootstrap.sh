# shellcheck shell=bash
# Phase of up.sh: the cluster's objects and the kubeconfigs of the deployer and of the throttled identity.
# Every file of scripts/stack/objects/ is applied, in name order, with @NAMESPACE@ replaced by $NS: the KWOK nodes,
# the namespace with the deployer (ServiceAccount, token Secret, the least-privilege Role, its bindings) and the
# throttled identity with its FlowSchema and PriorityLevelConfiguration.
wait_for kube-controller-manager 60 curl -sfk https://127.0.0.1:10257/healthz
wait_for kube-scheduler 60 curl -sfk https://127.0.0.1:10259/healthz

first=1
for f in "$STACK_SCRIPTS"/objects/*.yaml; do
  (( first )) || echo "---"
  first=0
  render "$f" NAMESPACE="$NS"
done >"$STATE/bootstrap.yaml.new"
# Apply only when the manifest changed or the cluster lost it (a kubectl apply costs about a second).
if cmp -s "$STATE/bootstrap.yaml.new" "$STATE/bootstrap.yaml" && k get namespace "$NS" >/dev/null 2>&1 \
    && k -n "$NS" get secret kube-ship-deployer-token kube-ship-throttled-token >/dev/null 2>&1 \
    && k get flowschema kube-ship-throttled >/dev/null 2>&1; then
  rm -f "$STATE/bootstrap.yaml.new"
else
  k apply -f "$STATE/bootstrap.yaml.new" >/dev/null
  rm -f "$DEPLOYER_KC" "$THROTTLED_KC"   # re-read the tokens below (the Secrets may be new)
  mv "$STATE/bootstrap.yaml.new" "$STATE/bootstrap.yaml"
fi

# sa_kubeconfig FILE SERVICEACCOUNT: a kubeconfig with the ServiceAccount's token (from its token Secret, filled in
# by the controller-manager) and the context namespace $NS.
sa_kubeconfig() {
  [[ -s "$1" ]] && return 0
  local token="" i
  for ((i = 0; i < 300; i++)); do
    token="$(k -n "$NS" get secret "$2-token" -o jsonpath='{.data.token}' 2>/dev/null || true)"
    [[ -n "$token" ]] && break
    sleep 0.1
  done
  [[ -n "$token" ]] || die "the token controller did not fill secret $NS/$2-token"
  kubeconfig "$1" "$2" "$NS" "    token: $(printf %s "$token" | base64 -d)"
}
# The least-privilege kubeconfig, and the same rights under API Priority and Fairness' tight limit.
sa_kubeconfig "$DEPLOYER_KC" kube-ship-deployer
sa_kubeconfig "$THROTTLED_KC" kube-ship-throttled
# The admin and deployer kubeconfigs through toxiproxy (same address, so the API server's certificate for IP
# 127.0.0.1 stays valid); rewritten whenever the direct ones change.
for pair in "$ADMIN_KC:$FAULT_ADMIN_KC" "$DEPLOYER_KC:$FAULT_DEPLOYER_KC"; do
  sed "s#server: https://127.0.0.1:$APISERVER_PORT\$#server: https://127.0.0.1:$FAULT_APISERVER_PORT#" "${pair%%:*}" \
    >"${pair#*:}.tmp"
  chmod 600 "${pair#*:}.tmp"
  replace_if_changed "${pair#*:}.tmp" "${pair#*:}" || true
done
grep -q "server: https://127.0.0.1:$FAULT_APISERVER_PORT\$" "$FAULT_ADMIN_KC" || die "could not write $FAULT_ADMIN_KC"

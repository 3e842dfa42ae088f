# shellcheck shell=bash
# Phase of up.sh: kube-apiserver on https://127.0.0.1:6443 (RBAC, API Priority and Fairness on, audit log).
# Audit log (for counting API requests at the server, e.g. npm run bench): scripts/stack/apiserver/audit-policy.yaml
# writes only the requests of the ServiceAccounts of $NS (the deployer, the bench's baseline identity), at level
# Metadata, one line per request (stage ResponseComplete); everything else (controllers, KWOK, admin) is level None,
# so it stays cheap.
# Egress selector: the API server reaches pods, services' endpoints and kubelets only through the pod app's unix
# socket $POD_APP_SOCKET (scripts/stack/apiserver/egress-selector.yaml; the pod app starts in its own phase).
render "$STACK_SCRIPTS/apiserver/audit-policy.yaml" NAMESPACE="$NS" >"$STATE/audit-policy.yaml.new"
render "$STACK_SCRIPTS/apiserver/egress-selector.yaml" POD_APP_SOCKET="$POD_APP_SOCKET" >"$STATE/egress-selector.yaml.new"
if replace_if_changed "$STATE/audit-policy.yaml.new" "$STATE/audit-policy.yaml" && pid_of kube-apiserver >/dev/null; then
  say "audit policy changed: restarting kube-apiserver"
  stop_one kube-apiserver 15
fi
if replace_if_changed "$STATE/egress-selector.yaml.new" "$STATE/egress-selector.yaml" && pid_of kube-apiserver >/dev/null; then
  say "egress selector changed: restarting kube-apiserver"
  stop_one kube-apiserver 15
fi
# An API server started by an older up.sh (without the audit flags or the egress selector, or with API Priority and
# Fairness off) is restarted once to pick up the current flags.
if apid="$(pid_of kube-apiserver)"; then
  apcmd="$(tr '\0' ' ' <"/proc/$apid/cmdline")"
  if [[ "$apcmd" != *--audit-policy-file=* || "$apcmd" != *--egress-selector-config-file=* ||
    "$apcmd" == *--enable-priority-and-fairness=false* ]]; then
    say "kube-apiserver runs with older flags: restarting it"
    stop_one kube-apiserver 15
  fi
fi
# API Priority and Fairness is on (the default): the bootstrap phase adds a priority level that answers real 429s
# to one ServiceAccount (kube-ship-throttled).
start kube-apiserver "$STACK_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
  --audit-policy-file="$STATE/audit-policy.yaml" --audit-log-path="$LOGS/audit.log" --audit-log-format=json \
  --audit-log-maxsize=50 --audit-log-maxbackup=1 --egress-selector-config-file="$STATE/egress-selector.yaml" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=10.96.0.0/16 \
  --authorization-mode=Node,RBAC --endpoint-reconciler-type=none --allow-privileged=true \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
  --profiling=false --v=1
wait_for kube-apiserver 60 "$KUBECTL" --kubeconfig "$ADMIN_KC" get --raw /readyz

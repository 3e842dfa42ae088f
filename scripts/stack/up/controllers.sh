# shellcheck shell=bash
# Phase of up.sh: kube-controller-manager (127.0.0.1:10257) and kube-scheduler (127.0.0.1:10259). Not waited for
# here: they come up while KWOK and toxiproxy start, and the bootstrap phase waits for them.
start kube-controller-manager "$STACK_BIN/kube-controller-manager" \
  --kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --use-service-account-credentials=true --cluster-name=kube-ship \
  --kube-api-qps=100 --kube-api-burst=200 --profiling=false --v=1
start kube-scheduler "$STACK_BIN/kube-scheduler" \
  --kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false --v=1

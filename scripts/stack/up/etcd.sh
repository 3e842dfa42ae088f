# shellcheck shell=bash
# Phase of up.sh: etcd on 127.0.0.1:2379 (peer 2380), data in $STATE/etcd.
start etcd "$STACK_BIN/etcd" --name kube-ship --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster kube-ship=http://127.0.0.1:2380 --unsafe-no-fsync --auto-compaction-retention=1 \
  --log-level=warn
wait_for etcd 30 curl -sf http://127.0.0.1:2379/health

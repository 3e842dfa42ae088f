#!/usr/bin/env bash
# Network faults between a client and the stack's API server (or open registry, or Prometheus), through the
# toxiproxy that scripts/stack/up.sh runs. Clients see them only when they connect through the proxy:
# $FAULT_KUBECONFIG (admin), $FAULT_DEPLOYER_KUBECONFIG (deployer), i.e. https://127.0.0.1:16443; $FAULT_REGISTRY
# (127.0.0.1:15000); $FAULT_PROMETHEUS_URL (http://127.0.0.1:19090).
#
#   fault.sh add NAME TYPE [attr=value...] [--upstream] [--toxicity=F]   add a toxic (default: on the downstream,
#                                                   server -> client, with toxicity 1)
#   fault.sh remove NAME                            remove one toxic
#   fault.sh reset                                  remove every toxic and enable every proxy (all proxies)
#   fault.sh clear                                  remove every toxic of this proxy and enable it (the other
#                                                   proxies' toxics stay: for tests that run at the same time)
#   fault.sh down | up                              disable / enable the proxy: while down, connecting is refused
#                                                   and open connections (watches) are closed
#   fault.sh show                                   the proxy and its toxics (JSON)
# Types and attributes (toxiproxy v2; times in ms unless said):
#   latency latency=MS jitter=MS      delays each chunk of data; on open connections too (a watch's events come
#                                     late, and flush when the toxic is removed)
#   reset_peer timeout=MS             resets the connection MS after the next data (new connections: at once; an
#                                     idle watch: when its next event comes)
#   timeout timeout=MS                drops all data, closes the connection after MS without data in that direction
#                                     (0: never, a blackhole; removing it then closes the connection)
#   bandwidth rate=KB_PER_S | slicer average_size=B size_variation=B delay=MICROSECONDS | slow_close delay=MS |
#   limit_data bytes=N
# The proxy is "kube-apiserver" unless FAULT_PROXY (or --proxy=NAME) says "registry" or "prometheus" (e.g.
# `fault.sh --proxy=prometheus down`: queries to $FAULT_PROMETHEUS_URL are refused until `up`; Prometheus itself
# keeps scraping). Through the proxy a stopped server looks like a connection closed after connect (EOF), not
# ECONNREFUSED. up.sh keeps active toxics; a
# restart of toxiproxy (restart.sh toxiproxy) drops them. Tests should run "fault.sh reset" when they end.
set -euo pipefail
URL="${TOXIPROXY_URL:-http://127.0.0.1:8474}"
proxy="${FAULT_PROXY:-kube-apiserver}"

usage() { sed -n '2,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
# api METHOD PATH [BODY]: calls toxiproxy's HTTP API; prints the answer; fails with the API's message on an error.
api() {
  local out code body=()
  [[ $# -ge 3 ]] && body=(-H 'Content-Type: application/json' --data-binary "$3")
  out="$(mktemp)"
  code="$(curl -sS -m 10 -o "$out" -w '%{http_code}' -X "$1" "${body[@]}" "$URL$2")" ||
    { rm -f "$out"; echo "fault.sh: toxiproxy at $URL does not answer (is the stack up?)" >&2; exit 1; }
  if [[ "$code" != 2* ]]; then
    echo "fault.sh: $1 $2: HTTP $code: $(cat "$out")" >&2
    rm -f "$out"
    exit 1
  fi
  cat "$out"
  rm -f "$out"
}
json_string() { printf '"%s"' "$(printf %s "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

args=()
stream=downstream
toxicity=1
for a in "$@"; do
  case "$a" in
    --upstream) stream=upstream ;;
    --downstream) stream=downstream ;;
    --toxicity=*) toxicity="${a#--toxicity=}" ;;
    --proxy=*) proxy="${a#--proxy=}" ;;
    -h|--help) usage ;;
    *) args+=("$a") ;;
  esac
done
set -- "${args[@]}"
[[ $# -ge 1 ]] || usage
cmd="$1"; shift

case "$cmd" in
  add)
    [[ $# -ge 2 ]] || usage
    name="$1" type="$2"; shift 2
    attrs=""
    for kv in "$@"; do
      [[ "$kv" == *=* ]] || { echo "fault.sh: attribute '$kv' is not key=value" >&2; exit 2; }
      k="${kv%%=*}" v="${kv#*=}"
      [[ "$v" =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || v="$(json_string "$v")"
      attrs+="${attrs:+, }$(json_string "$k"): $v"
    done
    [[ "$toxicity" =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "fault.sh: bad toxicity '$toxicity'" >&2; exit 2; }
    api POST "/proxies/$proxy/toxics" "{\"name\": $(json_string "$name"), \"type\": $(json_string "$type"), \"stream\": \"$stream\", \"toxicity\": $toxicity, \"attributes\": {$attrs}}" >/dev/null
    share=""; [[ "$toxicity" == 1 ]] || share=", toxicity $toxicity"
    echo "fault.sh: $proxy: added $type toxic '$name' ($stream${attrs:+, $attrs}$share)" >&2
    ;;
  remove)
    [[ $# -eq 1 ]] || usage
    api DELETE "/proxies/$proxy/toxics/$1" >/dev/null
    echo "fault.sh: $proxy: removed toxic '$1'" >&2
    ;;
  reset)
    api POST /reset >/dev/null
    echo "fault.sh: all toxics removed, all proxies enabled" >&2
    ;;
  clear)
    for name in $(api GET "/proxies/$proxy/toxics" | grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'); do
      api DELETE "/proxies/$proxy/toxics/$name" >/dev/null
    done
    api POST "/proxies/$proxy" '{"enabled": true}' >/dev/null
    echo "fault.sh: $proxy: every toxic removed, enabled" >&2
    ;;
  down|up)
    enabled=false; [[ "$cmd" == up ]] && enabled=true
    api POST "/proxies/$proxy" "{\"enabled\": $enabled}" >/dev/null
    echo "fault.sh: $proxy: $cmd" >&2
    ;;
  show)
    api GET "/proxies/$proxy"
    echo
    ;;
  *) usage ;;
esac

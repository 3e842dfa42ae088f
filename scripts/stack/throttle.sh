#!/usr/bin/env bash
# Real HTTP 429s from the API server's Priority and Fairness, for the ServiceAccount kube-ship-throttled
# ($THROTTLED_KUBECONFIG: the deployer's rights, but its FlowSchema sends every request to the priority level
# kube-ship-throttled, about 3 seats, no queue, no borrowing). Other identities are not affected.
#
#   throttle.sh check [N] [ROUNDS]  ROUNDS (default 3) bursts of N (default 20) concurrent LIST requests (one curl,
#                                   HTTP/2) as the throttled identity, then as the deployer; prints the status codes
#                                   and Retry-After headers; fails unless the throttled identity got a 429 (each with
#                                   Retry-After) and the deployer none. Whether one burst overlaps enough to be
#                                   refused depends on timing (most bursts of 20 get some 429s, not every one).
#   throttle.sh hold SECONDS        deterministic: occupies every seat of the priority level for about SECONDS
#                                   (1-50) with slowly uploaded requests, so that EVERY request of the throttled
#                                   identity gets 429 meanwhile. Prints "holding" once a probe got its 429 (and the
#                                   deployer a 200), then waits until the seats are free again. Run it in the
#                                   background; killing it frees the seats at once.
# Uses the stack's env (${KUBE_SHIP_STACK_DIR:-<repo>/.stack}/env).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))"
# shellcheck disable=SC1090,SC1091
source "${KUBE_SHIP_STACK_DIR:-$repo/.stack}/env"
usage() { sed -n '2,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

server="$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')"
work="$(mktemp -d)"
holders=()
cleanup() {
  (( ${#holders[@]} )) && kill "${holders[@]}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$work/ca.crt"
# curlrc NAME KUBECONFIG: a curl config with the identity's token (keeps the token off command lines).
curlrc() {
  local token
  token="$(kubectl --kubeconfig "$2" config view --raw -o jsonpath='{.users[0].user.token}')"
  [[ -n "$token" ]] || { echo "throttle.sh: no token in $2" >&2; exit 1; }
  printf 'cacert = "%s"\nheader = "Authorization: Bearer %s"\nsilent\nno-progress-meter\n' "$work/ca.crt" "$token" \
    >"$work/$1.curlrc"
}
curlrc throttled "$THROTTLED_KUBECONFIG"
curlrc deployer "$DEPLOYER_KUBECONFIG"
pods_url="$server/api/v1/namespaces/$DEPLOYER_NAMESPACE/pods"

# burst WHO N: N concurrent requests; prints "429S RETRY_AFTERS SUMMARY".
burst() {
  local i urls=()
  for ((i = 0; i < $2; i++)); do urls+=(-o /dev/null "$pods_url?i=$i"); done
  curl -K "$work/$1.curlrc" --parallel --parallel-immediate --parallel-max "$2" -D "$work/headers" \
    -w '%{http_code}\n' "${urls[@]}" >"$work/codes" 2>/dev/null || true
  local r429 ra codes values
  r429="$(grep -c '^429$' "$work/codes" || true)"
  ra="$(tr -d '\r' <"$work/headers" | grep -ci '^retry-after:' || true)"
  codes="$(sort "$work/codes" | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
  values="$(tr -d '\r' <"$work/headers" | awk -F': *' 'tolower($1) == "retry-after" { print $2 }' | sort -u | paste -sd, -)"
  echo "$r429 $ra $codes${values:+; Retry-After: $values}"
}

cmd="${1:-check}"
case "$cmd" in
  check)
    n="${2:-20}" rounds="${3:-3}"
    [[ "$n" =~ ^[0-9]+$ && "$rounds" =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 200 && rounds >= 1 && rounds <= 20 )) || usage
    t429=0 tra=0 d429=0
    for who in throttled deployer; do
      for ((r = 1; r <= rounds; r++)); do
        read -r c ra summary < <(burst "$who" "$n")
        echo "$who round $r: $n concurrent requests: $summary" >&2
        if [[ $who == throttled ]]; then t429=$((t429 + c)); tra=$((tra + ra)); else d429=$((d429 + c)); fi
      done
    done
    total=$((n * rounds))
    if (( t429 >= 1 && tra >= t429 && d429 == 0 )); then
      echo "throttle.sh: ok: throttled $t429/$total requests answered 429 (all with Retry-After), deployer 0/$total" >&2
    else
      echo "throttle.sh: FAIL: throttled $t429/$total 429s ($tra with Retry-After), deployer $d429/$total 429s" >&2
      exit 1
    fi
    ;;
  hold)
    secs="${2:-}"
    [[ "$secs" =~ ^[0-9]+$ ]] && (( secs >= 1 && secs <= 50 )) || usage
    # The priority level's seats right now (nominal: ceil(600 * 1 / sum of all levels' shares) = 3 on this stack).
    seats="$(kubectl get --raw /metrics 2>/dev/null |
      awk '/^apiserver_flowcontrol_current_limit_seats\{priority_level="kube-ship-throttled"\}/ { print $2 }')"
    [[ "$seats" =~ ^[0-9]+$ ]] && (( seats >= 1 && seats <= 50 )) || seats=3
    # Each holder is a create whose body trickles in at 100 bytes/s: APF admits a request before its body is read,
    # so it keeps its seat until the upload ends.
    body="$(printf '{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"namespace":"%s","verb":"get","resource":"pods"}}}' "$DEPLOYER_NAMESPACE")"
    pad=$(( secs * 100 - ${#body} )); (( pad > 0 )) || pad=0
    printf '%s%*s' "$body" "$pad" "" >"$work/body.json"
    for ((i = 0; i < seats; i++)); do
      curl -K "$work/throttled.curlrc" --http1.1 --limit-rate 100 -X POST -H 'Content-Type: application/json' \
        --data-binary @"$work/body.json" -o /dev/null \
        "$server/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" 2>/dev/null &
      holders+=($!)
    done
    code="" ra=""
    for ((i = 0; i < 50; i++)); do
      sleep 0.1
      code="$(curl -K "$work/throttled.curlrc" -o /dev/null -D "$work/probe" -w '%{http_code}' "$pods_url" 2>/dev/null || true)"
      [[ "$code" == 429 ]] && break
    done
    ra="$(tr -d '\r' <"$work/probe" | awk -F': *' 'tolower($1) == "retry-after" { print $2 }')"
    dcode="$(curl -K "$work/deployer.curlrc" -o /dev/null -w '%{http_code}' "$pods_url" 2>/dev/null || true)"
    if [[ "$code" != 429 || -z "$ra" || "$dcode" != 200 ]]; then
      echo "throttle.sh: FAIL: with $seats seats held the throttled identity got $code (Retry-After '$ra'), the deployer $dcode" >&2
      exit 1
    fi
    echo "throttle.sh: holding $seats seats of kube-ship-throttled for ~${secs}s: throttled gets 429 (Retry-After: $ra), deployer 200" >&2
    echo holding
    wait "${holders[@]}" 2>/dev/null || true
    holders=()
    echo "throttle.sh: released" >&2
    ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Installs what the local test bed needs: Debian packages (only the missing ones), the Kubernetes, etcd, KWOK,
# toxiproxy, Prometheus, helm, act and actionlint binaries built from Go modules (scripts/stack/build.sh,
# build-toxiproxy.sh, build-prometheus.sh, build-helm.sh, build-act.sh, cached per version) and the Gateway API CRDs
# from theirs (build-gateway-api.sh).
# Needs the network the first time; once everything is present it does nothing and needs no network, so up.sh can
# run offline afterwards.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# package -> a file it provides (checked instead of asking dpkg, which is slower)
declare -A pkgs=(
  [docker.io]=/usr/sbin/dockerd
  [iptables]=/usr/sbin/iptables
  [docker-registry]=/usr/bin/docker-registry
  [apache2-utils]=/usr/bin/htpasswd
  [busybox-static]=/bin/busybox
  [openssl]=/usr/bin/openssl
  [iproute2]=/usr/sbin/ip
  [util-linux]=/usr/bin/unshare
  [curl]=/usr/bin/curl
)
missing=()
for p in "${!pkgs[@]}"; do
  [[ -e "${pkgs[$p]}" ]] || missing+=("$p")
done
# busybox-static and busybox conflict; /bin/busybox from plain busybox is dynamic, so check the static one.
if [[ -e /bin/busybox ]] && ! dpkg -s busybox-static >/dev/null 2>&1; then
  missing+=(busybox-static)
fi
if (( ${#missing[@]} )); then
  echo "install.sh: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian docker.io package starts its own daemon via systemd on some machines; we never rely on it.

# Go is needed only when a binary is not built yet (build.sh and build-buildx.sh return at once otherwise).
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
bash "$here/build.sh"
# toxiproxy, for fault tests through 127.0.0.1:16443 (scripts/stack/fault.sh); up.sh needs it.
bash "$here/build-toxiproxy.sh"
# Prometheus, for the verify checks of kind prometheus (PROMETHEUS_URL in the stack's env); up.sh needs it.
bash "$here/build-prometheus.sh"
# helm, for the `chart` input (the stack's env puts it on PATH).
bash "$here/build-helm.sh"
# The Gateway API CRDs (HTTPRoute, for canary-route); up.sh applies them.
bash "$here/build-gateway-api.sh"
# act (runs __tests__/workflows with `uses: ./`) and actionlint (scripts/lint-workflows.sh), for npm test.
bash "$here/build-act.sh"
# Optional docker buildx plugin (BUILDX_PLUGIN in the stack's env); a failure here is not fatal.
if [[ "${KUBE_SHIP_SKIP_BUILDX:-0}" != 1 ]]; then
  bash "$here/build-buildx.sh" || echo "install.sh: warning: building buildx failed; the stack works without it" >&2
fi

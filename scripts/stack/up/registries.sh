# shellcheck shell=bash
# Phase of up.sh: the registries, 127.0.0.1:5000 (open) and 127.0.0.1:5001 (htpasswd, user kube-ship, a password
# generated once per stack); sets AUTH_USER and AUTH_PASSWORD.
mkdir -p "$STATE/registry"
AUTH_USER=kube-ship
if [[ ! -s "$STATE/registry/password" ]]; then
  openssl rand -hex 16 >"$STATE/registry/password"
fi
AUTH_PASSWORD="$(cat "$STATE/registry/password")"
if [[ ! -s "$STATE/registry/htpasswd" ]]; then
  htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$STATE/registry/htpasswd"
fi
for port in 5000 5001; do
  dir="$STATE/registry/$port"
  mkdir -p "$dir/data"
  if [[ ! -s "$dir/config.yml" ]]; then
    {
      echo "version: 0.1"
      echo "log: {level: warn, accesslog: {disabled: true}}"
      echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}, cache: {blobdescriptor: inmemory}}"
      echo "http: {addr: 127.0.0.1:$port, secret: $(openssl rand -hex 16)}"
      if [[ $port == 5001 ]]; then
        echo "auth: {htpasswd: {realm: kube-ship, path: $STATE/registry/htpasswd}}"
      fi
    } >"$dir/config.yml"
  fi
  start "registry-$port" /usr/bin/docker-registry serve "$dir/config.yml"
done
wait_for registry-5000 30 curl -sf http://127.0.0.1:5000/v2/
# shellcheck disable=SC2016   # expanded by the inner bash
wait_for registry-5001 30 bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:5001/v2/) == 401 ]]'

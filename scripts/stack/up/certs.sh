# shellcheck shell=bash
# Phase of up.sh: the stack's CA, the serving and client certificates, the ServiceAccount signing key, and the
# kubeconfigs of the admin and of the components (each written once per stack).
mkdir -p "$PKI"
if [[ ! -s "$PKI/ca.crt" ]]; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$PKI/ca.key" \
    -out "$PKI/ca.crt" -days 3650 -subj "/CN=kube-ship-local-ca" 2>/dev/null
fi
# cert NAME SUBJECT EXT: a leaf certificate signed by the stack's CA.
cert() {
  local name="$1" subj="$2" ext="$3"
  [[ -s "$PKI/$name.crt" ]] && return 0
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$PKI/$name.key" \
    -out "$PKI/$name.csr" -subj "$subj" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -out "$PKI/$name.crt" -days 3650 -extfile "$PKI/$name.ext" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
client_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'
server_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth'
cert apiserver "/CN=kube-apiserver" "$server_ext
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
cert kwok-serving "/CN=kwok-kubelet" "$server_ext
subjectAltName=IP:127.0.0.1,DNS:localhost"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
cert admin "/O=system:masters/CN=kube-ship-admin" "$client_ext"
cert kube-controller-manager "/CN=system:kube-controller-manager" "$client_ext"
cert kube-scheduler "/CN=system:kube-scheduler" "$client_ext"
cert kwok "/O=system:masters/CN=kwok-controller" "$client_ext"
if [[ ! -s "$PKI/sa.key" ]]; then
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi

# cert_credentials CERT KEY: the user lines of a client certificate.
cert_credentials() {
  printf '    client-certificate-data: %s\n    client-key-data: %s' "$(base64 -w0 "$1")" "$(base64 -w0 "$2")"
}
kubeconfig "$ADMIN_KC" kube-ship-admin "" "$(cert_credentials "$PKI/admin.crt" "$PKI/admin.key")"
for c in kube-controller-manager kube-scheduler kwok; do
  kubeconfig "$STATE/$c.kubeconfig" "$c" "" "$(cert_credentials "$PKI/$c.crt" "$PKI/$c.key")"
done

#!/usr/bin/env bash
# Start the local Kubernetes control plane on 127.0.0.1 (see tests/cluster/README.md):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok + a fake node.
# IOCMGR_REAL_NODE=1: a real node too (tests/cluster/node.sh, docs/node.md): kubelet,
# containerd, real pods; the fake node is then left out (IOCMGR_KWOK_NODE=1 keeps it).
# State (pids, logs, certs, kubeconfigs, env) lives in $IOCMGR_CLUSTER_DIR.
# Harmless to run twice: a running cluster is detected and left alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t0=$SECONDS

"$CLUSTER_SRC/build.sh"
command -v openssl >/dev/null 2>&1 || die "openssl not found: install openssl"

COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok"

if [ -d "$RUN" ] && [ -f "$RUN/$MARK" ]; then
  n=0; for c in $COMPONENTS; do proc_alive "$c" && n=$((n + 1)); done
  if [ "$n" -eq 5 ] && kc get --raw /readyz >/dev/null 2>&1; then
    [ "${IOCMGR_REAL_NODE:-0}" != 1 ] || "$CLUSTER_SRC/node.sh" up
    say "already running (state in $RUN); source $RUN/env"
    exit 0
  fi
  if [ "$n" -gt 0 ] || [ -d "$RUN/pids" ]; then
    say "found a partial cluster in $RUN ($n of 5 processes alive): stopping it first"
  fi
  "$CLUSTER_SRC/down.sh"
elif [ -e "$RUN" ] && [ -n "$(ls -A "$RUN" 2>/dev/null)" ]; then
  die "$RUN exists, is not empty and was not made by up.sh (no $MARK): refusing to use it; set IOCMGR_CLUSTER_DIR"
fi

# refuse to start when a port is taken (another cluster, another user's up.sh)
for p in "$IOCMGR_APISERVER_PORT" "$IOCMGR_ETCD_CLIENT_PORT" "$IOCMGR_ETCD_PEER_PORT" \
         "$IOCMGR_CM_PORT" "$IOCMGR_SCHEDULER_PORT" "$IOCMGR_KWOK_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "127.0.0.1:$p is already in use; set the IOCMGR_*_PORT variables (see tests/cluster/README.md)"
  fi
done

mkdir -p "$RUN"/{pids,logs,pki,etcd,pod-logs}
touch "$RUN/$MARK"
chmod 700 "$RUN" "$RUN/pki"
PKI=$RUN/pki
API=https://127.0.0.1:$IOCMGR_APISERVER_PORT

# ---------------------------------------------------------------- certificates
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
  -subj "/CN=iocmgr-local-ca" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" || die "openssl: cannot make the CA"
cp "$PKI/ca.crt" "$RUN/ca.crt"
# cert NAME SUBJECT EXT
cert() {
  ossl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "$2" ||
    die "openssl: cannot make a key for $1"
  printf '%s\n' "$3" > "$PKI/$1.ext"
  ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -out "$PKI/$1.crt" -days 3650 -extfile "$PKI/$1.ext" || die "openssl: cannot sign $1"
  rm -f "$PKI/$1.csr" "$PKI/$1.ext"
}
SERVER_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"
CLIENT_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
cert apiserver "/CN=kube-apiserver" "$SERVER_EXT
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
cert kwok-serving "/CN=$IOCMGR_NODE_NAME" "$SERVER_EXT
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:$IOCMGR_NODE_NAME"
cert admin "/O=system:masters/CN=iocmgr-admin" "$CLIENT_EXT"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$CLIENT_EXT"
cert controller-manager "/CN=system:kube-controller-manager" "$CLIENT_EXT"
cert scheduler "/CN=system:kube-scheduler" "$CLIENT_EXT"
cert kwok "/O=system:masters/CN=kwok-controller" "$CLIENT_EXT"
ossl genrsa -out "$PKI/sa.key" 2048 && ossl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" ||
  die "openssl: cannot make the service-account key"
chmod 600 "$PKI"/*.key

# static bearer token (kube-apiserver --token-auth-file): token,user,uid,"groups"
ADMIN_TOKEN=$(openssl rand -hex 24)
printf '%s,iocmgr-token-admin,iocmgr-token-admin,"system:masters"\n' "$ADMIN_TOKEN" > "$PKI/tokens.csv"
chmod 600 "$PKI/tokens.csv"

# ---------------------------------------------------------------- kubeconfigs
b64() { base64 -w0 < "$1"; }
# kubeconfig FILE USER-YAML [NAMESPACE] [ca-as-file]
kubeconfig() {
  local ca
  ca="certificate-authority-data: $(b64 "$PKI/ca.crt")"
  [ "${4:-}" = ca-as-file ] && ca="certificate-authority: $RUN/ca.crt"
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: iocmgr-local
  cluster:
    server: $API
    $ca
users:
- name: user
  user:
$2
contexts:
- name: iocmgr-local
  context:
    cluster: iocmgr-local
    user: user
    namespace: ${3:-default}
current-context: iocmgr-local
KC
  chmod 600 "$1"
}
certuser_data() { printf '    client-certificate-data: %s\n    client-key-data: %s' "$(b64 "$PKI/$1.crt")" "$(b64 "$PKI/$1.key")"; }
certuser_file() { printf '    client-certificate: %s\n    client-key: %s' "$PKI/$1.crt" "$PKI/$1.key"; }
# admin: everything embedded as data (the usual shape of a kubeconfig)
kubeconfig "$RUN/kubeconfig" "$(certuser_data admin)" "$IOCMGR_NAMESPACE"
# bearer token from the static token file, CA as a file path
kubeconfig "$RUN/token.kubeconfig" "    token: $ADMIN_TOKEN" "$IOCMGR_NAMESPACE" ca-as-file
# components: files
kubeconfig "$RUN/controller-manager.kubeconfig" "$(certuser_file controller-manager)"
kubeconfig "$RUN/scheduler.kubeconfig" "$(certuser_file scheduler)"
kubeconfig "$RUN/kwok.kubeconfig" "$(certuser_file kwok)"

# ---------------------------------------------------------------- processes
# fail with the component's log tail
failed() { say "$1"; [ -f "$RUN/logs/$2.log" ] && tail -n 30 "$RUN/logs/$2.log" >&2; "$CLUSTER_SRC/down.sh" >&2 || true; exit 1; }
check_alive() { proc_alive "$1" || failed "$1 exited during start-up (log: $RUN/logs/$1.log)" "$1"; }

proc_start etcd --name iocmgr-local --data-dir "$RUN/etcd" \
  --listen-client-urls "http://127.0.0.1:$IOCMGR_ETCD_CLIENT_PORT" \
  --advertise-client-urls "http://127.0.0.1:$IOCMGR_ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$IOCMGR_ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$IOCMGR_ETCD_PEER_PORT" \
  --initial-cluster "iocmgr-local=http://127.0.0.1:$IOCMGR_ETCD_PEER_PORT" \
  --unsafe-no-fsync --quota-backend-bytes=1073741824 --log-level warn
wait_for 30 etcd_ok || { check_alive etcd; failed "etcd not healthy after 30 s" etcd; }

proc_start kube-apiserver \
  --bind-address=127.0.0.1 --secure-port="$IOCMGR_APISERVER_PORT" \
  --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
  --etcd-servers="http://127.0.0.1:$IOCMGR_ETCD_CLIENT_PORT" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --service-account-issuer="$API" \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --client-ca-file="$PKI/ca.crt" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --authorization-mode=Node,RBAC --token-auth-file="$PKI/tokens.csv" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$PKI/ca.crt" \
  --kubelet-preferred-address-types=InternalIP \
  --allow-privileged=true --profiling=false \
  --v=1
wait_for 60 kc get --raw /readyz || { check_alive kube-apiserver; failed "kube-apiserver not ready after 60 s" kube-apiserver; }

proc_start kube-controller-manager \
  --kubeconfig="$RUN/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$RUN/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$RUN/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$IOCMGR_CM_PORT" \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --use-service-account-credentials=true --controllers='*' \
  --leader-elect=false --profiling=false --v=1

proc_start kube-scheduler \
  --kubeconfig="$RUN/scheduler.kubeconfig" \
  --authentication-kubeconfig="$RUN/scheduler.kubeconfig" \
  --authorization-kubeconfig="$RUN/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$IOCMGR_SCHEDULER_PORT" \
  --leader-elect=false --profiling=false --v=1

# kwok's Logs/ClusterLogs CRDs (pod logs are configured as objects, see demo.sh)
kc apply -f "$CLUSTER_SRC/kwok/crds/" >/dev/null || failed "cannot install the kwok CRDs" kube-apiserver
wait_for 30 kc wait --for=condition=Established --timeout=5s crd/logs.kwok.x-k8s.io crd/clusterlogs.kwok.x-k8s.io ||
  failed "kwok CRDs not established" kube-apiserver

# kwok fakes only its own nodes (annotation kwok.x-k8s.io/node=fake), never a real one
proc_start kwok \
  --kubeconfig="$RUN/kwok.kubeconfig" --config="$CLUSTER_SRC/kwok/stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --enable-crds=Logs,ClusterLogs \
  --node-ip=127.0.0.1 --node-port="$IOCMGR_KWOK_PORT" \
  --server-address="127.0.0.1:$IOCMGR_KWOK_PORT" \
  --tls-cert-file="$PKI/kwok-serving.crt" --tls-private-key-file="$PKI/kwok-serving.key" \
  --node-lease-duration-seconds=40

# a default console log for any pod without its own Logs object
cat > "$RUN/pod-logs/default.log" <<LOG
$(date -u +%Y-%m-%dT%H:%M:%S.%NZ) stdout F (kwok fake container: no console log was configured for this pod)
LOG
cp "$RUN/pod-logs/default.log" "$RUN/pod-logs/default-previous.log"
kc apply -f - >/dev/null <<YAML || failed "cannot create the default ClusterLogs" kube-apiserver
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: default
spec:
  selector: {}
  logs:
  - logsFile: $RUN/pod-logs/default.log
    previousLogsFile: $RUN/pod-logs/default-previous.log
    follow: true
YAML

# the fake node: a dedicated beamline node, labelled and tainted like the seed's. Beside a
# real node (which carries the same label and taint) it is left out unless asked for, so
# beamline pods run on the real one.
kwok_node=${IOCMGR_KWOK_NODE:-$([ "${IOCMGR_REAL_NODE:-0}" = 1 ] && echo 0 || echo 1)}
if [ "$kwok_node" = 1 ]; then
kc apply -f - >/dev/null <<YAML || failed "cannot create node $IOCMGR_NODE_NAME" kube-apiserver
apiVersion: v1
kind: Node
metadata:
  name: $IOCMGR_NODE_NAME
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    beamline: bl46p
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: $IOCMGR_NODE_NAME
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    type: kwok
spec:
  taints:
  - key: beamline
    value: bl46p
    effect: NoSchedule
YAML

node_ready() {
  local out
  out=$(kc get node "$IOCMGR_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}') || return 1
  case $out in True*) ;; *) return 1 ;; esac
  case $out in *node.kubernetes.io/not-ready*|*node.kubernetes.io/unreachable*) return 1 ;; esac
}
wait_for 60 node_ready || { for c in $COMPONENTS; do check_alive "$c"; done; failed "node $IOCMGR_NODE_NAME not Ready after 60 s" kwok; }
fi
for c in $COMPONENTS; do check_alive "$c"; done

# the beamline namespace and iocmgr's least-privilege ServiceAccount (demo/00-*, 01-*)
for f in "$CLUSTER_SRC"/demo/00-namespace.yaml "$CLUSTER_SRC"/demo/01-rbac.yaml; do
  sed "s/bl46p-iocs/$IOCMGR_NAMESPACE/g" "$f" | kc apply -f - >/dev/null || failed "cannot apply $f" kube-apiserver
done
sa_token=""
wait_for 30 kc -n "$IOCMGR_NAMESPACE" get serviceaccount iocmgr || failed "no ServiceAccount iocmgr" kube-controller-manager
sa_token=$(kc -n "$IOCMGR_NAMESPACE" create token iocmgr --duration=48h) || failed "cannot create a token for iocmgr" kube-apiserver
kubeconfig "$RUN/limited.kubeconfig" "    token: $sa_token" "$IOCMGR_NAMESPACE"

cat > "$RUN/env" <<ENV
# source this: local iocmgr test cluster (tests/cluster/up.sh)
export KUBECONFIG='$RUN/kubeconfig'
export IOCMGR_API_URL='$API'
export IOCMGR_NAMESPACE='$IOCMGR_NAMESPACE'
export IOCMGR_CLUSTER_DIR='$RUN'
export IOCMGR_CLUSTER_BIN='$CLUSTER_BIN'
export IOCMGR_CA_FILE='$RUN/ca.crt'
export IOCMGR_TOKEN_KUBECONFIG='$RUN/token.kubeconfig'
export IOCMGR_LIMITED_KUBECONFIG='$RUN/limited.kubeconfig'
export PATH='$CLUSTER_BIN':"\$PATH"
# the real node's settings, while it runs (tests/cluster/node.sh)
[ ! -f '$RUN/node.env' ] || . '$RUN/node.env'
ENV
if [ "${IOCMGR_REAL_NODE:-0}" = 1 ]; then
  "$CLUSTER_SRC/node.sh" up || failed "the real node did not come up" kube-apiserver
fi
nodes=$(kc get nodes -o jsonpath='{.items[*].metadata.name}')
say "up in $((SECONDS - t0))s: $API ($K8S_VERSION), node(s) ${nodes:-none}; state in $RUN"
say "use it: source $RUN/env"

#!/usr/bin/env bash
# The local test cluster: a real kube-apiserver, controller-manager, scheduler and etcd run by
# kwokctl (--runtime binary) from the binaries ci/setup-cluster-tools.sh built, with kwok
# simulating GPU nodes (ci/cluster/nodes.yaml), the chart's CRDs installed and the
# LeaderWorkerSet controller running out of cluster. Loopback only;
# all state lives in .tools/cluster/state (KUBECONFIG=.tools/cluster/state/kubeconfig).
# CLUSTER_NAME, CLUSTER_STATE and CLUSTER_CIDR (pod addresses) run another cluster beside that
# one: `corral demo` runs corral-demo in .tools/cluster/demo with pods on 127.4.0.0/16.
#   ci/cluster.sh up | down | env
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/ci/versions.env"
bin="$root/.tools/cluster/bin"
state=${CLUSTER_STATE:-$root/.tools/cluster/state}
name=${CLUSTER_NAME:-corral-test}
cidr=${CLUSTER_CIDR:-127.1.0.0/16}
export PATH="$bin:$PATH" KWOK_WORKDIR="$state/kwok" KUBECONFIG="$state/kubeconfig"
export KUBECACHEDIR="$state/kubecache" KWOK_KUBE_VERSION="$K8S_VERSION" KWOK_RUNTIME=binary
export KWOK_KUBE_APISERVER_BINARY="$bin/kube-apiserver" KWOK_ETCD_BINARY="$bin/etcd"
export KWOK_KUBE_CONTROLLER_MANAGER_BINARY="$bin/kube-controller-manager"
export KWOK_KUBE_SCHEDULER_BINARY="$bin/kube-scheduler" KWOK_KUBECTL_BINARY="$bin/kubectl"
export KWOK_CONTROLLER_BINARY="$bin/kwok"

down() {
  local pids=() file
  [[ -f "$state/lws.pid" ]] && pids+=("$(<"$state/lws.pid")")
  for file in "$KWOK_WORKDIR/clusters/$name/pids/"*.pid; do
    [[ -f "$file" ]] && pids+=("$(<"$file")")
  done
  kwokctl delete cluster --name "$name" --kubeconfig "$KUBECONFIG" >/dev/null 2>&1 || true
  # kwokctl does not wait for its processes; do, so the ports are free for the next cluster.
  for _ in $(seq 50); do
    local alive=0 pid
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$state"
}

up() {
  down
  mkdir -p "$state"
  sed "s#127.1.0.0/16#$cidr#" "$root/ci/cluster/kwokctl.yaml" >"$state/kwokctl.yaml"
  kwokctl create cluster --name "$name" --config "$state/kwokctl.yaml" \
    --kubeconfig "$KUBECONFIG" --wait 5m >"$state/create.log" 2>&1 \
    || { cat "$state/create.log" >&2; return 1; }
  kubectl apply -f "$root/ci/cluster/nodes.yaml" >/dev/null
  kubectl apply --server-side -f "$root/.tools/crds/" >/dev/null
  kubectl wait --for=condition=Ready node --all --timeout=120s >/dev/null
  kubectl wait --for=condition=Established crd --all --timeout=120s >/dev/null
  # The LeaderWorkerSet controller, out of cluster: no webhooks, no certificates, loopback only.
  ENABLE_WEBHOOKS=false "$bin/lws-controller" --config "$root/ci/cluster/lws.yaml" \
    --kubeconfig "$KUBECONFIG" >"$state/lws.log" 2>&1 &
  echo $! >"$state/lws.pid"
  echo "cluster: up ($(kubectl version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1), $(kubectl get nodes --no-headers | wc -l) nodes)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) echo "export KUBECONFIG=$KUBECONFIG KUBECACHEDIR=$KUBECACHEDIR PATH=$bin:\$PATH" ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac

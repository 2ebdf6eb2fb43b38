#!/usr/bin/env bash
# Build the local cluster's components into .tools/cluster/bin (versions in ci/versions.env):
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from k8s.io/kubernetes,
# etcd, kwok and kwokctl, and the LeaderWorkerSet controller. Each is rebuilt only when its pinned
# version changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/ci/versions.env"
bin="$root/.tools/cluster/bin"
stamps="$root/.tools/cluster/stamps"
mkdir -p "$bin" "$stamps"
export GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local

fresh() { [[ -x "$bin/$1" && "$(cat "$stamps/$1" 2>/dev/null)" == "$2" ]]; }
built() { echo "$2" >"$stamps/$1"; }

# The version Kubernetes reports (Helm's kubeVersion checks read it from /version).
minor=$(cut -d. -f2 <<<"$K8S_VERSION")
ld="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=0000000000000000000000000000000000000000"
  ld+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  fresh "$cmd" "$K8S_VERSION" && continue
  echo "setup: building $cmd $K8S_VERSION (minutes, once)"
  go build -C "$root/ci/tools/kubernetes" -ldflags "$ld" -o "$bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  built "$cmd" "$K8S_VERSION"
done

if ! fresh etcd "$ETCD_VERSION"; then
  echo "setup: building etcd $ETCD_VERSION"
  go build -C "$root/ci/tools/etcd" -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
  built etcd "$ETCD_VERSION"
fi

if ! fresh lws-controller "$LWS_VERSION"; then
  echo "setup: building the LeaderWorkerSet controller $LWS_VERSION"
  go build -C "$root/ci/tools/lws" -ldflags "-s -w" -o "$bin/lws-controller" sigs.k8s.io/lws/cmd
  built lws-controller "$LWS_VERSION"
fi

for cmd in kwok kwokctl; do
  fresh "$cmd" "$KWOK_VERSION" && continue
  echo "setup: building $cmd $KWOK_VERSION"
  GOBIN="$bin" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/$cmd@$KWOK_VERSION"
  built "$cmd" "$KWOK_VERSION"
done
echo "setup: cluster tools ready ($("$bin/kube-apiserver" --version), etcd $("$bin/etcd" --version | head -1 | awk '{print $3}'), kwok $KWOK_VERSION)"

#!/usr/bin/env bash
# Copy the CRDs the chart can render from their projects' Go modules (versions in ci/versions.env)
# into .tools/crds/. Nothing is fetched when the pinned set is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/ci/versions.env"
dest="$root/.tools/crds"
want="$LWS_VERSION $KEDA_VERSION $PROMETHEUS_OPERATOR_VERSION $GATEWAY_API_VERSION $INFERENCE_EXTENSION_VERSION scalers disaggregatedset $ARGOCD_VERSION"
[[ "$(cat "$dest/.stamp" 2>/dev/null)" == "$want" ]] && exit 0

# module@version, then a file inside it: the CRDs, and the sources of the KEDA scalers the chart
# renders (their struct tags declare the trigger metadata the CRD leaves free-form).
crds=(
  "sigs.k8s.io/lws@$LWS_VERSION" config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml
  # The LWS controller also watches DisaggregatedSets: without their CRD its caches never sync
  # and it exits two minutes after it starts, stranding later multi-node tests.
  "sigs.k8s.io/lws@$LWS_VERSION" config/crd/bases/disaggregatedset.x-k8s.io_disaggregatedsets.yaml
  "github.com/kedacore/keda/v2@$KEDA_VERSION" config/crd/bases/keda.sh_scaledobjects.yaml
  "github.com/kedacore/keda/v2@$KEDA_VERSION" config/crd/bases/keda.sh_triggerauthentications.yaml
  "github.com/kedacore/keda/v2@$KEDA_VERSION" pkg/scalers/prometheus_scaler.go
  "github.com/kedacore/keda/v2@$KEDA_VERSION" pkg/scalers/metrics_api_scaler.go
  "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml
  "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
  "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml
  "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" config/crd/standard/gateway.networking.k8s.io_httproutes.yaml
  "sigs.k8s.io/gateway-api-inference-extension@$INFERENCE_EXTENSION_VERSION" config/crd/bases/inference.networking.k8s.io_inferencepools.yaml
  # What `corral fleet render` writes: ApplicationSets (and the Applications they generate).
  "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" manifests/crds/applicationset-crd.yaml
  "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" manifests/crds/application-crd.yaml
)
rm -rf "$dest"
mkdir -p "$dest/keda-scalers"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((i = 0; i < ${#crds[@]}; i += 2)); do
  module=${crds[i]} file=${crds[i + 1]}
  dir=$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "$module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -n "$dir" && -f "$dir/$file" ]] || { echo "setup: $file not found in $module" >&2; exit 1; }
  case $file in
    *.go) cp "$dir/$file" "$dest/keda-scalers/" ;;
    *) cp "$dir/$file" "$dest/" ;;
  esac
done
chmod -R u+w "$dest"
echo "$want" >"$dest/.stamp"
echo "setup: CRDs ready ($(ls "$dest"/*.yaml | wc -l) files)"

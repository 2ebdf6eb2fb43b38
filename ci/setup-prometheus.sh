#!/usr/bin/env bash
# Build prometheus and promtool into .tools/bin from Prometheus's Go module at PROMETHEUS_VERSION
# (ci/versions.env), for the tests that check the chart's rules and queries. Rebuilt only when the
# pinned version changes.
#
# API only: without the builtinassets tag Prometheus serves its web UI from static/ under its
# working directory, read on each request, so the UI pages answer with an error while the server,
# its HTTP API and /-/ready work as usual. remove_all_sd drops every service discovery but
# static, file and HTTP (the cloud providers' SDKs go with them); enable_kubernetes_sd keeps
# Kubernetes discovery, which promtool links anyway, so Prometheus can discover the local
# cluster's pods too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/ci/versions.env"
bin="$root/.tools/bin"
stamps="$root/.tools/stamps"
mkdir -p "$bin" "$stamps"
export GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local

fresh() { [[ -x "$bin/$1" && "$(cat "$stamps/$1" 2>/dev/null)" == "$2" ]]; }

if ! fresh prometheus "$PROMETHEUS_VERSION" || ! fresh promtool "$PROMETHEUS_VERSION"; then
  echo "setup: building prometheus and promtool $PROMETHEUS_VERSION (minutes, once)"
  # The release's own version stamp, as promu sets it: module v0.3XX.Y is Prometheus 3.XX.Y.
  IFS=. read -r _ minor patch <<<"${PROMETHEUS_VERSION#v}"
  release="$((minor / 100)).$((minor % 100)).$patch"
  GOBIN="$bin" go install -tags remove_all_sd,enable_kubernetes_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
  for cmd in prometheus promtool; do echo "$PROMETHEUS_VERSION" >"$stamps/$cmd"; done
fi
echo "setup: $("$bin/prometheus" --version | head -1)"

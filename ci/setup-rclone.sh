#!/usr/bin/env bash
# Build rclone into .tools/bin from the helper module ci/tools/rclone (rclone at RCLONE_VERSION with
# only the S3 and local backends), for the object-store tests. Rebuilt only when the pin changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/ci/versions.env"
bin="$root/.tools/bin"
stamps="$root/.tools/stamps"
mkdir -p "$bin" "$stamps"
export GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local

if [[ ! -x "$bin/rclone" || "$(cat "$stamps/rclone" 2>/dev/null)" != "$RCLONE_VERSION" ]]; then
  echo "setup: building rclone $RCLONE_VERSION (S3 and local backends)"
  (cd "$root/ci/tools/rclone" && go build -o "$bin/rclone" \
    -ldflags "-s -w -X github.com/rclone/rclone/fs.Version=$RCLONE_VERSION" .)
  echo "$RCLONE_VERSION" >"$stamps/rclone"
fi
echo "setup: $("$bin/rclone" version | head -1)"

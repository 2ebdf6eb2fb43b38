#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver at CHROMIUM_VERSION (ci/versions.env) for the
# browser tests of `corral ui`. Skipped when that version of both is installed already; needs
# root (apt-get). The tests drive them headless through Selenium, which never downloads a browser.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/ci/versions.env"

installed() { [[ "$(dpkg-query -W -f '${Version}' "$1" 2>/dev/null)" == "$CHROMIUM_VERSION" ]]; }

if ! installed chromium || ! installed chromium-driver; then
  echo "setup: installing chromium and chromium-driver $CHROMIUM_VERSION (apt-get, once)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show "chromium=$CHROMIUM_VERSION" >/dev/null 2>&1; then
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
    "chromium=$CHROMIUM_VERSION" "chromium-common=$CHROMIUM_VERSION" \
    "chromium-driver=$CHROMIUM_VERSION" >/dev/null
fi
echo "setup: $(chromium --version 2>/dev/null), $(chromedriver --version | cut -d' ' -f1-2)"

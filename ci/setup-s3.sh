#!/usr/bin/env bash
# The loopback S3 server of the object-store tests: moto's server (MOTO_VERSION, ci/versions.env)
# in its own venv under .tools/moto, every package pinned by ci/moto/constraints.txt. Its own venv
# because botocore needs python-dateutil<3 while the kubernetes client in .venv needs >=3.
# Rebuilt only when the pin or the constraints change.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/ci/versions.env"
venv="$root/.tools/moto"
stamp="$MOTO_VERSION $(sha256sum "$root/ci/moto/constraints.txt" | cut -c1-16)"
mkdir -p "$root/.tools/stamps"
if [[ ! -x "$venv/bin/moto_server" || "$(cat "$root/.tools/stamps/moto" 2>/dev/null)" != "$stamp" ]]; then
  echo "setup: installing moto[server] $MOTO_VERSION into .tools/moto"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -c "$root/ci/moto/constraints.txt" "moto[server]==$MOTO_VERSION"
  echo "$stamp" >"$root/.tools/stamps/moto"
fi
echo "setup: moto $("$venv/bin/python" -c 'import moto; print(moto.__version__)')"

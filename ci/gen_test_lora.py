"""Generate the engine tests' LoRA adapter offline: a random rank-8 adapter for the test model.

The adapter is made with peft (pinned in ci/engine/peft.txt) from the model ci/gen_test_model.py
wrote, with seeded random weights (not the usual zero init of B, so the adapter changes the
model's output). Nothing is fetched from a hub. Run with the engine venv's Python:

    .engine/venv/bin/python ci/gen_test_lora.py .engine/model .engine/lora/sql
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RANK, ALPHA, TARGETS, SEED = 8, 16, ["q_proj", "v_proj"], 20261203


def main() -> None:
    """Write the adapter into the given folder, unless the same one is already there."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    model_dir: Path = args.model.resolve()
    out: Path = args.out
    stamp = out / "corral-test-lora.json"
    model_stamp = json.loads((model_dir / "corral-test-model.json").read_text())
    shape = {"rank": RANK, "alpha": ALPHA, "targets": TARGETS, "seed": SEED, "model": model_stamp}
    if stamp.exists() and json.loads(stamp.read_text()) == shape:
        print(f"test adapter: {out} (cached)")
        return
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(SEED)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, init_lora_weights=False)
    adapter = get_peft_model(base, config)
    adapter.save_pretrained(out, safe_serialization=True)
    stamp.write_text(json.dumps(shape, indent=1) + "\n")
    print(f"test adapter: {out} (generated)")


if __name__ == "__main__":
    main()

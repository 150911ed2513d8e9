"""The model in the box: edgefusion's speech-trained model, shipped inside the package.

One model (``speech``), trained with ``edgefusion train``'s defaults on RAVDESS, EmoDB and EMOVO,
in every form a deployment needs, each a role in ``MANIFEST.json`` beside it:

    checkpoint      speech.pt              PyTorch weights, what ``export`` reads
    onnx            speech.onnx            float32 ONNX, the log-mel inside the graph
    int8-cpu        speech.int8.onnx       Q/DQ INT8 placed for ONNX Runtime on a CPU
    int8-tensorrt   speech.trt-int8.onnx   Q/DQ INT8 placed for TensorRT (``edgefusion build``)
    calib-cache     speech.trt-int8.calib  its calibration scales as a TensorRT cache

The manifest records each file's size and SHA-256: a damaged or truncated file is named in one
line with how to reinstall, never run. It also carries the model card's summary (``card``),
which ``edgefusion info`` prints; the whole card is ``docs/model-card.md``.

``EDGEFUSION_ZOO`` points the lookup at another folder with the same layout (a model of your
own, or a copy under test). numpy-free and torch-free: the runtime on a device imports this.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgefusion.checksum import file_sha256
from edgefusion.errors import EdgefusionError, located

ZOO_ENV = "EDGEFUSION_ZOO"
MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = 1
ROLES = ("checkpoint", "onnx", "int8-cpu", "int8-tensorrt", "calib-cache")
REINSTALL = "reinstall edgefusion (`pip install --force-reinstall edgefusion`; a clone: `git checkout edgefusion/zoo`)"


class ZooError(EdgefusionError):
    """A shipped model file that is missing, damaged or not in the manifest."""


@dataclass(frozen=True)
class Shipped:
    """One shipped file: its role, where it is, and what the manifest says it must be."""

    role: str
    path: Path
    size: int
    sha256: str


def zoo_root() -> Path:
    """The folder the shipped model is read from: ``$EDGEFUSION_ZOO``, else this package's folder."""
    override = os.environ.get(ZOO_ENV)
    return Path(override) if override else Path(__file__).resolve().parent


def read_manifest(root: Path | None = None) -> dict[str, Any]:
    """The manifest of ``root`` (default ``zoo_root()``) as a dict; one-line ``ZooError`` when unreadable."""
    path = (root or zoo_root()) / MANIFEST
    if not path.is_file():
        raise ZooError(located(path, f"no model manifest here: {REINSTALL}"))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ZooError(located(path, f"model manifest is not valid JSON ({e}): {REINSTALL}")) from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ZooError(located(path, f"not an edgefusion model manifest (format {MANIFEST_FORMAT}): {REINSTALL}"))
    return manifest


def entries(root: Path | None = None) -> dict[str, Shipped]:
    """role -> ``Shipped`` for every file the manifest lists (unchecked)."""
    root = root or zoo_root()
    out = {}
    for role, entry in read_manifest(root)["files"].items():
        out[role] = Shipped(role, root / entry["file"], int(entry["size"]), str(entry["sha256"]))
    return out


def verify(item: Shipped) -> Path:
    """``item.path`` when it is the file the manifest describes; one-line ``ZooError`` naming it otherwise."""
    path = item.path
    if not path.is_file():
        raise ZooError(located(path, f"shipped {item.role} file is missing: {REINSTALL}"))
    size = path.stat().st_size
    if size != item.size:
        problem = f"shipped {item.role} file is damaged ({size:,} bytes, its manifest says {item.size:,}): {REINSTALL}"
        raise ZooError(located(path, problem))
    digest = file_sha256(path)
    if digest != item.sha256:
        problem = f"shipped {item.role} file is damaged (SHA-256 {digest[:12]}…, its manifest says {item.sha256[:12]}…)"
        raise ZooError(located(path, f"{problem}: {REINSTALL}"))
    return path


def shipped(role: str, root: Path | None = None) -> Path:
    """The checked path of the shipped file with ``role`` (one of ``ROLES``)."""
    table = entries(root)
    if role not in table:
        where = (root or zoo_root()) / MANIFEST
        raise ZooError(located(where, f"lists no {role} file (it has {', '.join(table) or 'none'}): {REINSTALL}"))
    return verify(table[role])


def card(root: Path | None = None) -> dict[str, Any]:
    """The model card's summary from the manifest (name, licence, data, accuracy, limits)."""
    value = read_manifest(root).get("card", {})
    return value if isinstance(value, dict) else {}


def shipped_role(path: Path, root: Path | None = None) -> str | None:
    """The role of ``path`` when it is one of the shipped files, else None (no checksum taken)."""
    try:
        table = entries(root)
    except ZooError:
        return None
    resolved = path.resolve()
    return next((role for role, item in table.items() if item.path.resolve() == resolved), None)

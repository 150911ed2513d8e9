"""What an ONNX artifact says about itself, in its ``metadata_props``.

Every ONNX file edgefusion writes carries the model config, the class names, the input
contract, its precision and the edgefusion version (and, once calibrated, the calibration
summary), each as a JSON string under an ``edgefusion.`` key. Later commands read them back
with ``read_metadata`` and need no other flag to know the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from edgefusion import __version__
from edgefusion.atomic import write_atomic
from edgefusion.config import ModelConfig
from edgefusion.errors import EdgefusionError, located

PREFIX = "edgefusion."
REQUIRED = ("config", "classes", "contract", "precision", "version")
PRECISIONS = ("fp32", "fp16", "int8")


class ArtifactError(EdgefusionError):
    """An ONNX file that is missing, unreadable or not one of edgefusion's."""


@dataclass
class ArtifactMeta:
    config: ModelConfig
    classes: list[str]
    contract: list[dict[str, Any]]
    precision: str
    version: str
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. "calibration", "source", "export"

    @property
    def batch(self) -> int | None:
        """The fixed batch size, or None when the batch axis is dynamic."""
        first = self.contract[0]["shape"][0]
        return first if isinstance(first, int) else None

    def to_props(self) -> dict[str, str]:
        values: dict[str, Any] = {
            "config": self.config.to_dict(),
            "classes": self.classes,
            "contract": self.contract,
            "precision": self.precision,
            "version": self.version,
            **self.extra,
        }
        return {PREFIX + k: json.dumps(v) for k, v in values.items()}


def set_metadata(model: onnx.ModelProto, meta: ArtifactMeta) -> None:
    """Replace the ``edgefusion.*`` entries of ``model.metadata_props`` with ``meta``'s."""
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for key, value in [*keep, *meta.to_props().items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def metadata_of(model: onnx.ModelProto, source: str | Path) -> ArtifactMeta:
    """Parse ``model``'s edgefusion metadata; one-line ``ArtifactError`` naming what is missing."""
    props = {p.key[len(PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(PREFIX)}
    missing = [k for k in REQUIRED if k not in props]
    if len(missing) == len(REQUIRED):
        raise ArtifactError(
            located(source, "has no edgefusion metadata (not written by `edgefusion export`); export the checkpoint")
        )
    if missing:
        raise ArtifactError(located(source, f"edgefusion metadata lacks {', '.join(PREFIX + k for k in missing)}"))
    try:
        values = {k: json.loads(v) for k, v in props.items()}
    except json.JSONDecodeError as e:
        raise ArtifactError(located(source, f"edgefusion metadata is not valid JSON ({e})")) from None
    config = ModelConfig.from_dict(values.pop("config"), source=str(source))
    core = {k: values.pop(k) for k in ("classes", "contract", "precision", "version")}
    meta = ArtifactMeta(config=config, extra=values, **core)
    check_graph(model, meta, source)
    return meta


def _graph_tensors(model: onnx.ModelProto) -> dict[str, tuple[str, str, list[int | str]]]:
    """name -> (io, dtype, shape) of the graph's inputs (initializers excluded) and outputs."""
    weights = {t.name for t in model.graph.initializer}
    out: dict[str, tuple[str, str, list[int | str]]] = {}
    for io, values in (("in", model.graph.input), ("out", model.graph.output)):
        for v in values:
            if v.name in weights:
                continue
            t = v.type.tensor_type
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "undefined"
            dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
            out[v.name] = (io, dtype, dims)
    return out


def check_graph(model: onnx.ModelProto, meta: ArtifactMeta, source: str | Path) -> None:
    """Raise ``ArtifactError`` unless the graph's inputs and outputs are the ones its metadata's
    contract names, with its dtypes and shapes: metadata copied onto a foreign graph is refused.

    A float16 artifact may give its outputs as float16 (its runners cast them); a dimension the
    contract leaves named (the dynamic batch) may be any name in the graph.
    """
    graph = _graph_tensors(model)
    named = {t["name"] for t in meta.contract}
    extra = [n for n in graph if n not in named]
    if extra:
        raise ArtifactError(located(source, f"graph {graph[extra[0]][0]}put {extra[0]} is not in its contract"))
    for t in meta.contract:
        where = f"contract {t['io']}put {t['name']}"
        if t["name"] not in graph:
            raise ArtifactError(located(source, f"the graph has no {where}: its metadata describes another model"))
        io, dtype, dims = graph[t["name"]]
        fp16_out = io == "out" and meta.precision == "fp16" and dtype == "float16"
        if io != t["io"] or (dtype != t["dtype"] and not fp16_out):
            problem = f"{where} is {t['dtype']}, the graph's {t['name']} is a {dtype} {io}put"
            raise ArtifactError(located(source, problem))
        fits = len(dims) == len(t["shape"]) and all(
            isinstance(c, str) or d == c for d, c in zip(dims, t["shape"], strict=True)
        )
        if not fits:
            raise ArtifactError(located(source, f"{where} has shape {t['shape']}, the graph's has {dims}"))


def load_onnx(path: str | Path, load_weights: bool = True) -> onnx.ModelProto:
    """``onnx.load`` with a one-line error for a missing, empty or unparsable file."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(located(path, "no such file"))
    if path.stat().st_size == 0:
        raise ArtifactError(located(path, "empty file, not an ONNX model"))
    try:
        return onnx.load(str(path), load_external_data=load_weights)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ArtifactError(located(path, f"not an ONNX model ({type(e).__name__})")) from None


def read_metadata(path: str | Path) -> ArtifactMeta:
    """The edgefusion metadata of the ONNX file at ``path``."""
    return metadata_of(load_onnx(path, load_weights=False), path)


def save_onnx(model: onnx.ModelProto, path: str | Path) -> Path:
    """Write atomically (a half-written model never sits under the final name)."""
    return write_atomic(path, lambda f: onnx.save(model, f))


def new_meta(config: ModelConfig, classes: list[str], contract: list[dict[str, Any]], precision: str) -> ArtifactMeta:
    return ArtifactMeta(config, list(classes), contract, precision, __version__)

"""Checkpoint -> ONNX: trace, simplify, check, infer shapes, stamp metadata.

The graph takes the contract's raw inputs (docs/architecture.md: PCM, uint8 BGR crops,
presence flags) and computes its own log-mel with Conv/MatMul/Log: no STFT or DFT op. The legacy TorchScript exporter is
used (``dynamo=False``): it needs no onnxscript and gives the same small op set.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from rich.console import Console
from rich.markup import escape

from edgefusion.artifact.contract import GRAPH_INPUTS as INPUTS
from edgefusion.artifact.contract import GRAPH_OUTPUTS as OUTPUTS
from edgefusion.artifact.contract import contract
from edgefusion.artifact.graph import constants_to_initializers, outputs_as_leaves
from edgefusion.artifact.metadata import ArtifactMeta, new_meta, save_onnx, set_metadata
from edgefusion.config import MODALITIES_KEY, REFERENCE_KEY
from edgefusion.errors import EdgefusionError
from edgefusion.export.fp16 import to_fp16
from edgefusion.model.checkpoint import load_checkpoint
from edgefusion.model.network import EmotionNet

OPSET = 17
BATCH_AXIS = "batch"


@dataclass
class ExportResult:
    path: Path
    meta: ArtifactMeta
    simplified: bool
    nodes: int


class Deployed(torch.nn.Module):
    """``EmotionNet.deploy`` as a module's forward, which is what the exporter traces."""

    def __init__(self, model: EmotionNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.deploy(*inputs)


def example_inputs(model: EmotionNet, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Inputs of the contract's shapes: a quiet noise waveform, random crops, both modalities
    present, no speaker shift."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    audio = 0.05 * torch.randn(batch, cfg.window_samples, generator=g)
    shape = (batch, cfg.frames, cfg.frame_size, cfg.frame_size, 3)
    video = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    return audio, video, torch.ones(batch, 2), torch.zeros(batch, cfg.embed_dim)


def trace_to_onnx(model: EmotionNet, dynamic_batch: bool, opset: int = OPSET) -> onnx.ModelProto:
    model = model.eval()
    buffer = io.BytesIO()
    axes = {name: {0: BATCH_AXIS} for name in (*INPUTS, *OUTPUTS)} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic, expected here
        torch.onnx.export(
            Deployed(model),
            example_inputs(model, 2 if dynamic_batch else 1),
            buffer,
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            opset_version=opset,
            dynamic_axes=axes,
            do_constant_folding=True,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def simplify(model: onnx.ModelProto, console: Console | None = None) -> tuple[onnx.ModelProto, bool]:
    """onnxsim's simplification; on failure the unsimplified graph, with a warning."""
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(model)
    except Exception as e:  # onnxsim raises RuntimeError and others from its C++ core
        ok, reason = False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    else:
        reason = "its check against the original failed"
    if ok:
        return simplified, True
    if console is not None:
        console.print(
            f"[yellow]warning:[/] onnxsim could not simplify the graph ({escape(reason)}); keeping it unsimplified",
            markup=True,
        )
    return model, False


def finalize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constants as initializers, outputs as leaves, ``onnx.checker`` (full) and shape inference.

    Raises on an invalid graph (a bug, not a user error).
    """
    constants_to_initializers(model)
    outputs_as_leaves(model)
    onnx.checker.check_model(model, full_check=True)
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    dynamic_batch: bool = False,
    precision: str = "fp32",
    opset: int = OPSET,
    console: Console | None = None,
) -> ExportResult:
    """Write ``checkpoint`` as an ONNX graph of ``precision`` (fp32 or fp16) to ``out``."""
    model, ckpt = load_checkpoint(checkpoint)
    graph = trace_to_onnx(model, dynamic_batch, opset)
    graph, simplified = simplify(graph, console)
    graph = finalize(graph)
    if precision == "fp16":
        graph = to_fp16(graph)
    elif precision != "fp32":
        raise EdgefusionError(f"export writes fp32 or fp16 graphs, not {precision!r} (INT8 comes from `calibrate`)")
    meta = new_meta(
        model.cfg, list(ckpt["classes"]), contract(model.cfg, BATCH_AXIS if dynamic_batch else 1), precision
    )
    meta.extra["source"] = {"checkpoint": Path(checkpoint).name, "train": ckpt.get("extra", {}).get("train", {})}
    if ckpt.get(REFERENCE_KEY) is not None:  # the training mean that speaker adaptation centres on
        meta.extra[REFERENCE_KEY] = ckpt[REFERENCE_KEY]
    if ckpt.get(MODALITIES_KEY) is not None:  # what it learned; the runtime masks the rest
        meta.extra[MODALITIES_KEY] = ckpt[MODALITIES_KEY]
    meta.extra["export"] = {"opset": opset, "simplified": simplified, "torch": torch.__version__}
    set_metadata(graph, meta)
    path = save_onnx(graph, out)
    return ExportResult(path, meta, simplified, len(graph.graph.node))

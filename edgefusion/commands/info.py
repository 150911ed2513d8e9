"""``edgefusion info``: what a checkpoint or an ONNX holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edgefusion.config import MODALITIES, MODALITIES_KEY, REFERENCE_KEY
from edgefusion.errors import EdgefusionError, located


@dataclass(frozen=True)
class InfoSettings:
    """The artifact ``edgefusion info`` describes."""

    model_path: Path | None  # None: the shipped model's checkpoint


def run(s: InfoSettings, out: Console) -> None:
    """Print what ``s.model_path`` holds: size, parameters, MACs, config and contract (an ONNX: ops, metadata);
    for a shipped file, the model card's summary too."""
    from edgefusion.runtime.runner import SUFFIX_BACKEND
    from edgefusion.zoo import shipped, shipped_role

    if s.model_path is None:
        model_path, role = shipped("checkpoint"), "checkpoint"
    else:  # a shipped file named by its path is checked too: a damaged one is named, not described
        model_path, role = s.model_path, shipped_role(s.model_path)
        if role is not None:
            shipped(role)
    backend = SUFFIX_BACKEND.get(model_path.suffix.lower())
    if backend == "onnxruntime":
        _onnx_info(model_path, out)
        if role is not None:
            _card(out)
        return
    if backend == "tensorrt":
        from edgefusion.artifact.sidecar import sidecar_path

        problem = f"info reads checkpoints (.pt) and ONNX; an engine's build record is {sidecar_path(model_path)}"
        raise EdgefusionError(located(model_path, problem))
    if backend is None and model_path.exists():
        raise EdgefusionError(located(model_path, "unknown artifact type (info reads .pt checkpoints and .onnx)"))
    from edgefusion.artifact.contract import contract
    from edgefusion.model.checkpoint import load_checkpoint
    from edgefusion.model.summary import count_macs

    model, meta = load_checkpoint(model_path)
    cfg = model.cfg
    params = sum(p.numel() for p in model.parameters())
    shared = sum(p.numel() for p in model.encoder.trunk.parameters())
    macs = count_macs(model)
    table = Table(
        title=f"{model_path} (edgefusion {meta.get('edgefusion_version')}, format {meta['format_version']})",
        title_justify="left",
        show_header=False,
    )
    table.add_column()
    table.add_column()
    table.add_row("parameters", f"{params:,} ({shared:,} in the shared trunk)")
    table.add_row("size (float32 weights)", f"{params * 4 / 1e6:.2f} MB")
    table.add_row("file size", f"{model_path.stat().st_size / 1e6:.2f} MB")
    for name, value in macs.items():
        table.add_row(f"MACs {name}", f"{value / 1e6:.1f} M")
    table.add_row("classes", ", ".join(meta["classes"]))
    train_meta = meta.get("extra", {}).get("train")
    if train_meta:
        table.add_row(
            "trained on",
            f"{train_meta.get('data')} actors {','.join(train_meta.get('train_actors', []))} "
            f"(best epoch {train_meta.get('best_epoch')})",
        )
    table.add_row("speaker adaptation", _adaptation(meta.get(REFERENCE_KEY), "trained before edgefusion 0.2"))
    table.add_row("trained on modalities", _modalities(meta.get(MODALITIES_KEY)))
    out.print(table)
    io = Table(title="input contract", title_justify="left")
    for col in ("tensor", "dtype", "shape", "meaning"):
        io.add_column(col)
    for row in contract(cfg):
        io.add_row(row["name"], row["dtype"], str(row["shape"]), row["meaning"])
    out.print(io)
    out.print("config: " + json.dumps(cfg.to_dict()))
    if role is not None:
        _card(out)


def _modalities(value: list[str] | None) -> str:
    """info's row for the modalities a model was trained on."""
    if value is None:
        return f"{', '.join(MODALITIES)} (not recorded: trained before edgefusion recorded it)"
    masked = [m for m in MODALITIES if m not in value]
    return ", ".join(value) + (f"; the runtime masks its {' and '.join(masked)} path" if masked else "")


def _card(out: Console) -> None:
    """The shipped model's card, in brief: what it is, its licence, data, accuracy and limits."""
    from edgefusion.zoo import card

    c = card()
    out.print(f"{c.get('name', 'the shipped model')}: {c.get('summary', '')}")
    out.print(f"licence: {c.get('licence', 'see the model card')}")
    for corpus in c.get("data", {}).values():
        out.print(
            f"  {corpus['name']} ({corpus['language']}, {corpus['licence']}): {corpus['train_clips']} training clips "
            f"of {corpus['train_speakers']} speakers; validation speakers {', '.join(corpus['val_speakers'])}"
        )
    table = Table(title=f"accuracy on {c.get('scored_on', 'held-out speakers')}", title_justify="left")
    accuracy = c.get("accuracy", {})
    corpora = [k for k in next(iter(accuracy.values()), {}) if k != "all"]
    table.add_column("artifact")
    for name in ("all", *corpora):
        table.add_column(name, justify="right")
        table.add_column(f"{name} adapted", justify="right")
    for role, by_corpus in accuracy.items():
        cells = []
        for name in ("all", *corpora):
            for kind in ("plain", "adapted"):
                figure = (by_corpus.get(name) or {}).get(kind)
                cells.append(f"{100 * figure['accuracy']:.1f}%" if figure else "-")
        table.add_row(role, *cells)
    out.print(table)
    for limit in c.get("limits", []):
        out.print(f"limit: {limit}")
    out.print(f"the whole card: {c.get('card', 'docs/model-card.md')}")


def _adaptation(reference: list[float] | None, why_none: str) -> str:
    """info's "speaker adaptation" row for an artifact that takes a shift: ready, or why not."""
    if reference is None:
        return f"no training reference ({why_none}); train again to use --adapt"
    return f"ready: the training clips' mean audio embedding ({len(reference)} values) for --adapt"


def _onnx_info(path: Path, out: Console) -> None:
    from edgefusion.artifact.contract import SHIFT_INPUT
    from edgefusion.artifact.graph import op_counts
    from edgefusion.artifact.metadata import load_onnx, metadata_of

    model = load_onnx(path)
    meta = metadata_of(model, path)
    table = Table(title=f"{path} (edgefusion {meta.version})", title_justify="left", show_header=False)
    table.add_column()
    table.add_column()
    table.add_row("precision", meta.precision)
    table.add_row("batch", "dynamic" if meta.batch is None else str(meta.batch))
    table.add_row("file size", f"{path.stat().st_size / 1e6:.2f} MB")
    table.add_row("opset", str(model.opset_import[0].version))
    table.add_row("ops", ", ".join(f"{k} {v}" for k, v in sorted(op_counts(model).items())))
    table.add_row("classes", ", ".join(meta.classes))
    for key, value in sorted(meta.extra.items()):
        if key not in (REFERENCE_KEY, MODALITIES_KEY):  # rows of their own below
            table.add_row(key, json.dumps(value))
    if any(t["name"] == SHIFT_INPUT for t in meta.contract):
        adaptation = _adaptation(meta.extra.get(REFERENCE_KEY), "its checkpoint predates edgefusion 0.2")
    else:
        adaptation = "no: exported before speaker adaptation (edgefusion 0.1); export it again to use --adapt"
    table.add_row("speaker adaptation", adaptation)
    table.add_row("trained on modalities", _modalities(meta.extra.get(MODALITIES_KEY)))
    out.print(table)
    io = Table(title="input contract", title_justify="left")
    for col in ("tensor", "dtype", "shape", "meaning"):
        io.add_column(col)
    for row in meta.contract:
        io.add_row(row["name"], row["dtype"], str(row["shape"]), row["meaning"])
    out.print(io)

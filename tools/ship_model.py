#!/usr/bin/env python3
"""Put a trained model in the box: copy its artifacts into edgefusion/zoo and write MANIFEST.json.

A maintainer's step, run once per released model, after training, export, both calibrations and
the evaluations (the commands are in docs/model-card.md). RUN holds, under one stem (``speech``):

    speech.pt  speech.json  speech.onnx  speech.int8.onnx  speech.trt-int8.onnx  speech.trt-int8.calib
    speech.pt.eval.json  speech.onnx.eval.json  speech.int8.onnx.eval.json  speech.trt-int8.onnx.eval.json

Every artifact is loaded and checked first (ONNX metadata against its graph, both INT8 graphs
within ``--max-drop`` of the float32 graph on the same clips), so a broken set never ships. The
manifest records each file's size and SHA-256 and the model card's summary, which
``edgefusion info`` prints. Nothing in RUN is changed.

    python tools/ship_model.py /work/runs/ship
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from edgefusion.artifact.metadata import read_metadata
from edgefusion.checksum import file_sha256
from edgefusion.zoo import MANIFEST, MANIFEST_FORMAT

ZOO = Path(__file__).resolve().parent.parent / "edgefusion" / "zoo"
FILES = {  # role -> file name under the stem
    "checkpoint": "{stem}.pt",
    "onnx": "{stem}.onnx",
    "int8-cpu": "{stem}.int8.onnx",
    "int8-tensorrt": "{stem}.trt-int8.onnx",
    "calib-cache": "{stem}.trt-int8.calib",
}
SCORED = ("checkpoint", "onnx", "int8-cpu", "int8-tensorrt")
CORPORA = {  # corpus key -> what the card says about it
    "ravdess": {"name": "RAVDESS", "language": "English", "licence": "CC BY-NC-SA 4.0"},
    "emodb": {"name": "EmoDB", "language": "German", "licence": "research use (Burkhardt et al., 2005)"},
    "emovo": {"name": "EMOVO", "language": "Italian", "licence": "research use (Costantini et al., 2014)"},
}
LICENCE = (
    "non-commercial use only: trained on RAVDESS (CC BY-NC-SA 4.0), so the weights carry its terms; "
    "EmoDB and EMOVO are released for research use"
)
LIMITS = [
    "acted speech by professional actors, read sentences; spontaneous speech scores lower",
    "three languages (English, German, Italian); EMOVO (Italian) scores lowest",
    "audio only: trained without faces, so the runtime masks its video path",
    "six classes; calm and surprise are not among them",
]


def _scores(report: dict[str, Any]) -> dict[str, Any]:
    """Accuracy and macro-F1, unadapted and speaker-adapted, overall and per corpus, from an eval JSON."""

    def pick(block: dict[str, Any] | None) -> dict[str, float] | None:
        if not block:
            return None
        return {"accuracy": round(block["accuracy"], 4), "macro_f1": round(block["macro_f1"], 4), "clips": block["n"]}

    adapted = report.get("speaker_adapted") or {}
    out: dict[str, Any] = {"all": {"plain": pick(report["fused"]), "adapted": pick(adapted.get("fused"))}}
    for corpus, block in report.get("per_corpus", {}).items():
        out[corpus] = {"plain": pick(block.get("fused")), "adapted": pick(block.get("fused, speaker-adapted"))}
    return out


def build_card(stem: str, summary: dict[str, Any], reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    per_corpus = summary.get("train_clips_per_corpus", {})
    speakers: dict[str, dict[str, list[str]]] = {}
    for kind in ("train_actors", "val_actors"):
        for speaker in summary.get(kind, []):
            corpus, _, actor = speaker.partition(":")
            speakers.setdefault(corpus, {"train_actors": [], "val_actors": []})[kind].append(actor)
    data = {}
    for corpus, facts in CORPORA.items():
        if corpus in speakers:
            data[corpus] = {
                **facts,
                "train_clips": per_corpus.get(corpus, 0),
                "train_speakers": len(speakers[corpus]["train_actors"]),
                "val_speakers": speakers[corpus]["val_actors"],
            }
    return {
        "name": f"edgefusion-{stem}",
        "summary": "six acted emotions from 2 s of speech; one shared-encoder CNN, log-mel inside the graph",
        "modalities": summary.get("modalities", ["audio", "video"]),
        "licence": LICENCE,
        "data": data,
        "best_epoch": summary.get("best_epoch"),
        "scored_on": "the validation speakers (they chose the epoch, so the figures flatter the model a little)",
        "accuracy": {role: _scores(report) for role, report in reports.items()},
        "limits": LIMITS,
        "card": "docs/model-card.md",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run", type=Path, help="folder with the trained, exported, calibrated and scored artifacts")
    ap.add_argument("--stem", default="speech", help="the artifacts' common file stem (default: speech)")
    ap.add_argument("--max-drop", type=float, default=1.0, help="largest accuracy drop INT8 may show, points")
    args = ap.parse_args(argv)
    stem, run = args.stem, args.run
    paths = {role: run / name.format(stem=stem) for role, name in FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        print(f"{missing[0]}: missing; run the steps in docs/model-card.md first", file=sys.stderr)
        return 1
    for role in ("onnx", "int8-cpu", "int8-tensorrt"):
        read_metadata(paths[role])  # its contract matches its graph
    summary = json.loads((run / f"{stem}.json").read_text())
    reports = {}
    for role in SCORED:
        report_path = paths[role].with_name(paths[role].name + ".eval.json")
        if not report_path.is_file():
            print(f"{report_path}: missing; score {paths[role]} with `edgefusion eval --adapt --json`", file=sys.stderr)
            return 1
        reports[role] = json.loads(report_path.read_text())
    base = reports["onnx"]["fused"]["accuracy"]
    for role in ("int8-cpu", "int8-tensorrt"):
        drop = 100 * (base - reports[role]["fused"]["accuracy"])
        if drop > args.max_drop:
            print(f"{paths[role]}: {drop:.1f} points below float32, over --max-drop {args.max_drop}", file=sys.stderr)
            return 1
    files = {}
    for role, src in paths.items():
        dst = ZOO / src.name
        shutil.copyfile(src, dst)
        files[role] = {"file": dst.name, "size": dst.stat().st_size, "sha256": file_sha256(dst)}
    card = build_card(stem, summary, reports)
    manifest = {"format": MANIFEST_FORMAT, "model": stem, "files": files, "card": card}
    (ZOO / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(f["size"] for f in files.values())
    print(f"shipped {len(files)} files, {total / 1e6:.1f} MB, into {ZOO}; manifest {ZOO / MANIFEST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

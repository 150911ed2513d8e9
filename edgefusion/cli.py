"""The ``edgefusion`` command line: one thin command per verb; the work lives in the modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgefusion import __version__
from edgefusion.cli_options import (
    SPEAKERS_HELP,
    ArtifactArg,
    CacheOpt,
    CalmOpt,
    DataArg,
    DatasArg,
    ModelArg,
    ModelNameOpt,
    NprocOpt,
    OnnxArg,
    ServerOpt,
    VadBackendOpt,
    WaitOpt,
    err,
    out,
)
from edgefusion.config import SCORING_HOP, ModelConfig, TrainConfig

app = typer.Typer(
    name="edgefusion",
    help="Train, export, quantize, compile and run a shared-encoder audio-visual emotion model on the edge.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"edgefusion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """edgefusion: emotion from voice and face, from training to a Jetson."""


@app.command()
def train(
    data: DatasArg,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Checkpoint to write (a .json training summary goes beside it).")
    ] = Path("model.pt"),
    epochs: Annotated[
        int | None,
        typer.Option(
            help=f"Epochs \\[default: about {TrainConfig.train_windows:,} training windows in all, "
            f"{TrainConfig.epoch_bounds[0]} to {TrainConfig.epoch_bounds[1]} epochs]."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same model.")] = 0,
    actors: Annotated[
        str | None,
        typer.Option(
            help=f"Train on these actors only (without --val-actors the validation actors are drawn from them): "
            f"{SPEAKERS_HELP}."
        ),
    ] = None,
    val_actors: Annotated[
        str | None,
        typer.Option(
            help="Validation actors, never trained on, e.g. '13,14,15,16', from any DATA; an actor named by both "
            "--actors and --val-actors is an error."
        ),
    ] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(
            help="Without --val-actors: this fraction of the actors (of each corpus), drawn by --seed; "
            f"0 trains on all and keeps the last epoch \\[default: {TrainConfig.val_fraction:g}]."
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help=f"Clips per step \\[default: {TrainConfig.batch_size}, the recipe's].")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help=f"Peak learning rate \\[default: {TrainConfig.lr:g}, the recipe's].")
    ] = None,
    calm_as_neutral: CalmOpt = False,
    cache_dir: CacheOpt = None,
    window_seconds: Annotated[
        float | None,
        typer.Option(
            help="Seconds of audio the model takes per decision (its input contract; live runs decide on the "
            f"last this many seconds) \\[default: {ModelConfig.window_seconds:g}].",
        ),
    ] = None,
    teacher: Annotated[
        list[Path] | None,
        typer.Option(
            help="Distil: a trained checkpoint whose soft targets the new model also learns from (repeat for an "
            "ensemble; their probabilities are averaged). The new model keeps the default size.",
        ),
    ] = None,
    nproc: NprocOpt = 1,
) -> None:
    """Train on one or more corpora with a speaker-disjoint validation split; keeps the best validation macro-F1."""
    from edgefusion.commands import train as verb

    settings = verb.TrainSettings(
        datas=tuple(data), out_path=out_path, epochs=epochs, seed=seed, actors=actors, val_actors=val_actors,
        val_fraction=val_fraction, batch_size=batch_size, lr=lr, calm_as_neutral=calm_as_neutral,
        cache_dir=cache_dir, teachers=tuple(teacher or ()), window_seconds=window_seconds, nproc=nproc,
    )  # fmt: skip
    verb.run(settings, err, out)


@app.command(name="eval")
def eval_(
    model: ArtifactArg,
    data: DatasArg,
    actors: Annotated[str | None, typer.Option(help=f"Score only these actors: {SPEAKERS_HELP}.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write every figure to this JSON file.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the confusion matrices to this PNG.")] = None,
    hop: Annotated[
        float, typer.Option(help="Seconds between scoring windows; a clip's window probabilities are averaged.")
    ] = SCORING_HOP,
    calm_as_neutral: CalmOpt = False,
    cache_dir: CacheOpt = None,
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt",
            help="Also score with speaker adaptation: each clip's audio embedding centred on its speaker's "
            "other clips (no labels used), against the training clips' mean.",
        ),
    ] = False,
    vad: Annotated[
        bool,
        typer.Option(
            "--vad",
            help="Gate as `run` does: a window's audio counts only where the voice activity detector hears speech; "
            "a clip with no such window is a miss.",
        ),
    ] = False,
    vad_backend: VadBackendOpt = None,
    server: ServerOpt = None,
    model_name: ModelNameOpt = None,
    wait: WaitOpt = 0.0,
) -> None:
    """Score a checkpoint or artifact on whole clips: accuracy, macro-F1, per-class recall, confusion, per modality.

    With several corpora, also accuracy and macro-F1 per corpus.
    """
    from edgefusion.commands import eval as verb

    settings = verb.EvalSettings(
        model_path=model, datas=tuple(data), actors=actors, json_path=json_path, plot=plot, hop=hop,
        calm_as_neutral=calm_as_neutral, cache_dir=cache_dir, adapt=adapt, vad=vad, vad_backend=vad_backend,
        server=server, model_name=model_name, wait=wait,
    )  # fmt: skip
    verb.run(settings, err, out)


@app.command()
def info(
    model: Annotated[
        Path | None,
        typer.Argument(
            metavar="[MODEL]",
            help="A checkpoint (.pt) or an ONNX written by export or calibrate \\[default: the shipped model].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Describe a checkpoint (parameters, size, MACs, config) or an ONNX (ops, metadata), and the input contract.

    For the shipped model (no MODEL, or one of its files), the model card's summary too.
    """
    from edgefusion.commands import info as verb

    verb.run(verb.InfoSettings(model_path=model), out)


@app.command()
def export(
    model: ModelArg,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="ONNX file to write.")] = Path("model.onnx"),
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch", help="A dynamic batch axis (default: fixed batch 1).")
    ] = False,
    precision: Annotated[
        str,
        typer.Option(
            help="fp32, or fp16 (the front end and everything after the trunk's pooling kept in float32; "
            "for GPUs: ONNX Runtime's CPU kernels run it slower than fp32)."
        ),
    ] = "fp32",
    opset: Annotated[int, typer.Option(help="ONNX opset (17 or newer).", min=17)] = 17,
    check_trt: Annotated[
        bool,
        typer.Option(
            "--check-trt", help="Print every op's TensorRT support; exit 1 if one is unsupported by --trt-version."
        ),
    ] = False,
    trt_version: Annotated[str, typer.Option(help="TensorRT version for --check-trt (JetPack 6 = 10.3).")] = "10.3",
    data: Annotated[
        Path | None,
        typer.Option(help="Corpus whose clips feed the parity check \\[default: the checkpoint's training corpus]."),
    ] = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Export a checkpoint to ONNX (spectrogram inside the graph), simplify and check it, enforce parity with PyTorch.

    The file carries its config, class names, input contract and precision in its metadata, so
    later commands need no other flag to know the model.
    """
    from edgefusion.commands import export as verb

    settings = verb.ExportSettings(
        checkpoint=model, out_path=out_path, dynamic_batch=dynamic_batch, precision=precision, opset=opset,
        check_trt=check_trt, trt_version=trt_version, data=data, cache_dir=cache_dir,
    )  # fmt: skip
    verb.run(settings, err, out)


@app.command()
def calibrate(
    model: OnnxArg,
    data: DataArg,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Q/DQ INT8 ONNX to write.")] = Path("model.int8.onnx"),
    samples: Annotated[
        int | None,
        typer.Option(help="Calibration clips, across classes and actors \\[default: 256, or all DATA has if fewer]."),
    ] = None,
    method: Annotated[str, typer.Option(help="Range calibration: entropy, minmax or percentile (99.999).")] = "entropy",
    target: Annotated[
        str | None,
        typer.Option(
            help="tensorrt: symmetric INT8, Q/DQ on Conv/Gemm/MatMul inputs, as TensorRT builds it; "
            "cpu: the graph ONNX Runtime's CPU kernels run fastest \\[default: tensorrt where TensorRT is installed, "
            "else cpu]."
        ),
    ] = None,
    calib_cache: Annotated[
        Path | None,
        typer.Option(
            help="Also write a TensorRT calibration cache (legacy implicit INT8 for TensorRT 8.6-10.x; "
            "TensorRT 11 removed implicit calibration, build from the Q/DQ ONNX there)."
        ),
    ] = None,
    trt_version: Annotated[str, typer.Option(help="TensorRT version written in the --calib-cache header.")] = "10.3",
    max_drop: Annotated[
        float, typer.Option(help="Accuracy points INT8 may lose against float32 before it is rejected.")
    ] = 1.0,
    actors: Annotated[str | None, typer.Option(help="Calibrate on these actors of DATA only, e.g. '1-12'.")] = None,
    eval_data: Annotated[
        Path | None, typer.Option(help="Corpus for the accuracy gate \\[default: held-out actors of DATA].")
    ] = None,
    eval_actors: Annotated[
        str | None, typer.Option(help="Score the gate on these actors (of --eval-data, else of DATA).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for drawing clips and windows.")] = 0,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads for scoring \\[default: all].")] = None,
    hop: Annotated[float, typer.Option(help="Seconds between scoring windows.")] = SCORING_HOP,
    calm_as_neutral: CalmOpt = False,
    cache_dir: CacheOpt = None,
) -> None:
    """Quantize an exported ONNX to INT8 (explicit Q/DQ) from representative clips, behind an accuracy gate.

    The INT8 model is scored against its float32 parent on actors not used for calibration;
    when it loses more than --max-drop points the command exits 1 and leaves the file as
    OUT.rejected, where no deploy script picks it up.
    """
    from edgefusion.commands import calibrate as verb

    settings = verb.CalibrateSettings(
        onnx_path=model, data=data, out_path=out_path, samples=samples, method=method, target=target,
        calib_cache=calib_cache, trt_version=trt_version, max_drop=max_drop, actors=actors, eval_data=eval_data,
        eval_actors=eval_actors, seed=seed, threads=threads, hop=hop, calm_as_neutral=calm_as_neutral,
        cache_dir=cache_dir,
    )  # fmt: skip
    verb.run(settings, err, out)


@app.command()
def build(
    model: OnnxArg,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="TensorRT engine to write (+ a .json sidecar).")] = Path(
        "model.engine"
    ),
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8 (a Q/DQ ONNX builds as int8).")] = "fp16",
    workspace: Annotated[int, typer.Option(help="Builder workspace limit in MiB.")] = 1024,
    timing_cache: Annotated[
        Path | None, typer.Option(help="Timing cache file, read when present and updated (speeds up rebuilds).")
    ] = None,
    version_compatible: Annotated[
        bool, typer.Option("--version-compatible", help="An engine later TensorRT versions of the same major can run.")
    ] = False,
    batch: Annotated[
        str | None, typer.Option(help="min,opt,max batch for an ONNX with a dynamic batch axis, e.g. 1,4,8.")
    ] = None,
    calib_cache: Annotated[
        Path | None, typer.Option(help="Legacy implicit INT8 from a calibration cache (TensorRT 8.6-10.x).")
    ] = None,
    dla_core: Annotated[int | None, typer.Option(help="Jetson: build for this DLA core, GPU fallback on.")] = None,
) -> None:
    """Compile an ONNX to a TensorRT engine for this GPU (needs TensorRT: an NVIDIA GPU or a Jetson)."""
    from edgefusion.commands import build as verb

    settings = verb.BuildSettings(
        onnx_path=model, out_path=out_path, precision=precision, workspace=workspace, timing_cache=timing_cache,
        version_compatible=version_compatible, batch=batch, calib_cache=calib_cache, dla_core=dla_core,
    )  # fmt: skip
    verb.run(settings, err, out)


@app.command()
def doctor(
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the report to this JSON file.")] = None,
) -> None:
    """What this machine offers edgefusion: Python, torch, GPU, TensorRT, ONNX Runtime, OpenCV, audio, cameras."""
    from edgefusion.commands import doctor as verb

    failed = verb.run(verb.DoctorSettings(json_path=json_path), out)
    if failed:
        raise typer.Exit(1)


@app.command("make-corpus")
def make_corpus(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="Folder to write the corpus into: new, empty, or a corpus make-corpus wrote (rewritten).",
        ),
    ],
    actors: Annotated[int, typer.Option(help="Number of synthetic actors.")] = 6,
    sentences: Annotated[int, typer.Option(help="Sentences per actor and emotion (up to 12).")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    video: Annotated[bool, typer.Option("--video/--no-video", help="Also write face videos.")] = True,
) -> None:
    """Write a small SYNTHETIC corpus in the CREMA-D layout (espeak-ng robot speech, drawn faces).

    For tests and the demo: it exercises every stage of the pipeline; it is not emotional
    speech and says nothing about accuracy on real people. Run again into the same folder, it
    deletes the earlier corpus's clips first (a SYNTHETIC.txt marks the folder as its own).
    """
    from edgefusion.commands import make_corpus as verb

    settings = verb.MakeCorpusSettings(folder=folder, actors=actors, sentences=sentences, seed=seed, video=video)
    verb.run(settings, err)

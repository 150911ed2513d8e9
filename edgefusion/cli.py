"""The ``edgefusion`` command line: one thin command per verb; the work lives in the modules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from edgefusion import __version__
from edgefusion.errors import EdgefusionError

app = typer.Typer(
    name="edgefusion",
    help="Train, export, quantize, compile and run a shared-encoder audio-visual emotion model on the edge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DataArg = Annotated[
    Path, typer.Argument(help="Corpus folder in CREMA-D (AudioWAV/, VideoFlash/) or RAVDESS (Actor_NN/) layout.")
]
ModelArg = Annotated[Path, typer.Argument(help="A checkpoint written by `edgefusion train`.")]
CacheOpt = Annotated[
    Path | None, typer.Option("--cache-dir", help="Where decoded clips are cached [default: ~/.cache/edgefusion].")
]
CalmOpt = Annotated[
    bool, typer.Option("--calm-as-neutral", help="RAVDESS: count 'calm' as neutral instead of dropping it.")
]


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
    data: DataArg,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Checkpoint to write (a .json training summary goes beside it).")
    ] = Path("model.pt"),
    epochs: Annotated[int | None, typer.Option(help="Epochs [default: the recipe's].")] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same model.")] = 0,
    actors: Annotated[str | None, typer.Option(help="Use only these actors of DATA, e.g. '1-12'.")] = None,
    val_actors: Annotated[
        str | None, typer.Option(help="Validation actors, e.g. '13,14,15,16' (never trained on).")
    ] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(
            help="Without --val-actors: this fraction of the actors, drawn by --seed; "
            "0 trains on all and keeps the last epoch."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Clips per step [default: the recipe's].")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate [default: the recipe's].")] = None,
    calm_as_neutral: CalmOpt = False,
    cache_dir: CacheOpt = None,
) -> None:
    """Train on a corpus with a speaker-disjoint validation split; keeps the epoch with the best validation macro-F1."""
    from edgefusion.commands import run_train

    run_train(
        data,
        out_path,
        epochs,
        seed,
        actors,
        val_actors,
        val_fraction,
        batch_size,
        lr,
        calm_as_neutral,
        cache_dir,
        err,
        out,
    )


@app.command(name="eval")
def eval_(
    model: ModelArg,
    data: DataArg,
    actors: Annotated[str | None, typer.Option(help="Score only these actors, e.g. '13-16'.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write every figure to this JSON file.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the confusion matrices to this PNG.")] = None,
    hop: Annotated[
        float, typer.Option(help="Seconds between scoring windows; a clip's window probabilities are averaged.")
    ] = 0.5,
    calm_as_neutral: CalmOpt = False,
    cache_dir: CacheOpt = None,
) -> None:
    """Score a checkpoint on whole clips: accuracy, macro-F1, per-class recall, confusion; fused and per modality."""
    from edgefusion.commands import run_eval

    run_eval(model, data, actors, json_path, plot, hop, calm_as_neutral, cache_dir, err, out)


@app.command()
def info(model: ModelArg) -> None:
    """Describe a checkpoint: parameters, size, MACs per modality, the config and the input contract."""
    from edgefusion.commands import run_info

    run_info(model, out)


@app.command("make-corpus")
def make_corpus(
    folder: Annotated[Path, typer.Argument(help="Folder to write the corpus into (created).")],
    actors: Annotated[int, typer.Option(help="Number of synthetic actors.")] = 6,
    sentences: Annotated[int, typer.Option(help="Sentences per actor and emotion (up to 12).")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    video: Annotated[bool, typer.Option("--video/--no-video", help="Also write face videos.")] = True,
) -> None:
    """Write a small SYNTHETIC corpus in the CREMA-D layout (espeak-ng robot speech, drawn faces).

    For tests and the demo: it exercises every stage of the pipeline; it is not emotional
    speech and says nothing about accuracy on real people.
    """
    from edgefusion.commands import run_make_corpus

    run_make_corpus(folder, actors, sentences, seed, video, err)


def main() -> None:
    try:
        app()
    except EdgefusionError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)

"""The ``edgefusion`` command line's consoles and the arguments and options several verbs share."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from edgefusion.errors import EdgefusionError

# Long paths stay on one line (greppable, pasteable). Piped into a file or a log, tables get
# PIPE_WIDTH columns rather than rich's 80, which folds every cell (COLUMNS still wins).
PIPE_WIDTH = 200


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    # markup off: paths and messages print as they are (rich would read 'model[old].pt' as a tag);
    # the few styled lines ask for markup and escape what they interpolate
    return Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH if wide else None, markup=False)


out = _console(stderr=False)
err = _console(stderr=True)

CORPUS_LAYOUTS = (
    "CREMA-D (AudioWAV/, VideoFlash/), RAVDESS (Actor_NN/), EmoDB (wav/), EMOVO (f1..m3/) or TESS (OAF_*/YAF_*)"
)
DataArg = Annotated[Path, typer.Argument(metavar="DATA", help=f"Corpus folder: {CORPUS_LAYOUTS}.")]
DatasArg = Annotated[
    list[Path],
    typer.Argument(
        metavar="DATA",
        help=f"Corpus folders, one per corpus: {CORPUS_LAYOUTS}. Speakers are namespaced by corpus "
        "(ravdess:01, emodb:03).",
    ),
]
SPEAKERS_HELP = (
    "plain ids and ranges ('13-16', taken from whichever corpus has them) or namespaced ones ('ravdess:13-16,emodb:03')"
)
ModelArg = Annotated[Path, typer.Argument(metavar="MODEL", help="A checkpoint written by `edgefusion train`.")]
ArtifactArg = Annotated[
    Path,
    typer.Argument(
        metavar="ARTIFACT", help="A checkpoint (.pt) or an exported artifact (.onnx, .engine), run by its backend."
    ),
]
CacheOpt = Annotated[
    Path | None, typer.Option("--cache-dir", help="Where decoded clips are cached \\[default: ~/.cache/edgefusion].")
]
CalmOpt = Annotated[
    bool, typer.Option("--calm-as-neutral", help="RAVDESS: count 'calm' as neutral instead of dropping it.")
]


OnnxArg = Annotated[Path, typer.Argument(metavar="ONNX", help="An ONNX file written by `edgefusion export`.")]
AdaptOpt = Annotated[
    bool | None,
    typer.Option(
        "--adapt/--no-adapt",
        help="Speaker adaptation: centre the voice on the running mean of the session's voiced windows "
        "(once it holds 8 of them), one speaker per session \\[default: on where the model and the VAD allow].",
        show_default=False,
    ),
]
VadOpt = Annotated[
    bool | None,
    typer.Option(
        "--vad/--no-vad",
        help="Decide on speech only: a voice activity detector marks the audio absent between utterances "
        "\\[default: on where there is audio].",
        show_default=False,
    ),
]
VadBackendOpt = Annotated[
    str | None, typer.Option("--vad-backend", help="silero or webrtc \\[default: silero].", show_default=False)
]
NprocOpt = Annotated[
    int,
    typer.Option(
        help="Train in this many processes under torchrun (DistributedDataParallel; gloo on a CPU, nccl on "
        "GPUs), each a share of every batch; rank 0 validates and writes.",
    ),
]
def int_list(text: str | None, option: str) -> tuple[int, ...]:
    """``"4,8"`` -> ``(4, 8)``; None -> ``()``; anything else is a one-line error naming ``option``."""
    try:
        return tuple(int(x) for x in (text or "").split(",") if x.strip())
    except ValueError:
        raise EdgefusionError(f"{option} {text!r}: give whole numbers separated by commas, e.g. 4,8") from None


# edgefusion triton: how Triton batches and places the model
MaxBatchOpt = Annotated[
    int | None, typer.Option(help="Largest batch Triton forms \\[default: the artifact's; a fixed batch: none].")
]
PreferredOpt = Annotated[str | None, typer.Option(help="Preferred batch sizes for dynamic batching, e.g. 4,8.")]
QueueDelayOpt = Annotated[int, typer.Option(help="Microseconds a request may wait for others to batch with.")]
InstancesOpt = Annotated[
    list[str], typer.Option(help="KIND:COUNT copies of the model, cpu or gpu; repeat for several groups.")
]
# a model on a Triton server (run, eval, bench --server; serve)
ServerOpt = Annotated[
    str | None,
    typer.Option(
        help="grpc://HOST:PORT: infer on this Triton server (`edgefusion serve`); capture, VAD and smoothing "
        "stay here, the artifact gives the contract.",
        show_default=False,
    ),
]
ModelNameOpt = Annotated[
    str | None,
    typer.Option(
        help="--server: the model's name there \\[default: the artifact's file name less its suffix, as serve "
        "names it]."
    ),
]
WaitOpt = Annotated[
    float, typer.Option(help="--server: seconds to keep trying a server that does not answer at the start.")
]

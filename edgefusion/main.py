"""The ``edgefusion`` program: build the command line, run the verb, say every error in one line.

Usage errors (a missing argument, a bad value), ``EdgefusionError`` (anything the user can fix)
and a missing torch each print one line and exit non-zero, never a traceback; Ctrl-C prints
``interrupted`` and exits 130. The help is printed as command lines conventionally print it.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import typer
from rich.markup import escape

from edgefusion.cli import err
from edgefusion.cli_running import app  # the command line with every verb, those that run artifacts included
from edgefusion.errors import EdgefusionError

INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT)
# A device that only runs artifacts may have no torch: what needs it says so in one line.
TORCH_MISSING = (
    "torch is not installed: train, export and .pt checkpoints need it (pip install torch, or `make venv`); "
    ".onnx and .engine artifacts run without it"
)


def _usage_error_type() -> type[Exception]:
    """The base class of the parser's usage errors (a missing argument, a bad value, an unknown verb)."""
    if hasattr(typer, "TyperException"):  # typer 0.2x+ parses with a click of its own, raising these
        return typer.TyperException
    import click  # earlier typer releases parse with click itself

    return click.ClickException


def _usage_line(e: Exception) -> str:
    """A usage error as one line: the verb, click's message, where to read more."""
    ctx = getattr(e, "ctx", None)
    command = ctx.command_path if ctx is not None else "edgefusion"
    message = " ".join(e.format_message().split())  # type: ignore[attr-defined]
    return f"{command}: {message} (see '{command} --help')"


TYPE_NAMES = {"int": "INTEGER", "str": "TEXT", "float": "FLOAT", "path": "PATH"}


def _option_type(param: Any, ctx: Any) -> str | None:
    """An option's type as CLIs conventionally print it (INTEGER, PATH), nothing for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    label = param.display_type(ctx).strip("<>").removeprefix("list[").removesuffix("]")
    return TYPE_NAMES.get(label.lower(), label.upper())


def _help_option(cmd: Any, ctx: Any) -> Any:
    option = type(cmd).get_help_option(cmd, ctx)
    if option is not None and hasattr(option, "display_type_rich"):
        option.display_type_rich = types.MethodType(_option_type, option)
    return option


def _conventional_help(command: Any) -> Any:
    """typer 0.29 prints an option's type as ``<int>``, a flag's as ``<bool>`` and a required
    argument in braces (``{DATA}``); print them as CLIs conventionally do (``INTEGER``, nothing,
    ``DATA...``). Only the help text changes; typer releases without these hooks are left as they are."""
    for cmd in (command, *getattr(command, "commands", {}).values()):
        cmd.get_help_option = types.MethodType(_help_option, cmd)  # --help is made when asked for
        for param in cmd.params:
            if hasattr(param, "display_type_rich"):
                param.display_type_rich = types.MethodType(_option_type, param)
            if hasattr(param, "_usage_display_name"):
                name = param.display_name_raw if param.required else f"[{param.display_name_raw}]"
                param._usage_display_name = lambda name=name, many=param.nargs != 1: name + ("..." if many else "")
    return command


def main() -> None:
    # standalone_mode off: usage errors come here, to be said in one line like every other
    # error, instead of rich's boxed panel; the exit code is what the command or click gave
    args = sys.argv[1:] or ["--help"]  # `edgefusion` alone shows what it can do
    try:
        command = _conventional_help(typer.main.get_command(app))
        code = command.main(args=args, prog_name="edgefusion", standalone_mode=False)
    except _usage_error_type() as e:
        err.print(f"[bold red]error:[/] {escape(_usage_line(e))}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(getattr(e, "exit_code", 2))
    except typer.Abort:  # click before typer 0.2x turns Ctrl-C into this (later ones into Exit(130))
        code = INTERRUPTED
    except EdgefusionError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(1)
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        err.print(f"[bold red]error:[/] {escape(TORCH_MISSING)}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        code = INTERRUPTED
    if code == INTERRUPTED:
        err.print("interrupted")
    if isinstance(code, int) and code:  # typer.Exit(code) from a command (doctor's failed checks), Ctrl-C
        sys.exit(code)

"""The `dnd` command. Each subcommand lives in its own module exposing `register(subparsers)`,
which adds its parser and sets `func`; `main` dispatches and turns DndError into one line
on stderr and exit status 2 (no traceback)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import os
import sys
import warnings

from dnd import __version__
from dnd.cli.args import OneLineParser
from dnd.errors import DndError

# Subcommand modules, in the order of the pipeline.
COMMANDS = ["tasks", "zoo", "train", "generate", "export_gguf", "eval", "reproduce", "benchmark", "diagnose", "demo",
            "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="dnd",
        description="Drag-and-Drop LLMs: turn a handful of unlabeled task prompts into a "
        "PEFT LoRA adapter in about a second, with no training run.",
    )
    parser.add_argument("--version", action="version", version=f"dnd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"dnd.cli.{name}_cmd")
        except ModuleNotFoundError as e:
            if e.name != f"dnd.cli.{name}_cmd":
                raise
            continue  # not built yet
        module.register(sub)
    return parser


def quiet_progress_bars() -> None:
    """Progress bars only on a terminal: when stderr is a pipe or a log file, every tqdm bar
    (dnd's and the libraries') is disabled, whatever its caller passed as `disable`."""
    if sys.stderr.isatty():
        return
    os.environ["TQDM_DISABLE"] = "1"
    import tqdm.std

    init = tqdm.std.tqdm.__init__
    if getattr(init, "dnd_quiet", False):
        return  # already done (main called twice in one process)

    def quiet_init(self, *args, **kwargs):
        kwargs["disable"] = True
        init(self, *args, **kwargs)

    quiet_init.dnd_quiet = True
    tqdm.std.tqdm.__init__ = quiet_init


@contextlib.contextmanager
def paused_gc():
    """No cyclic garbage collection inside: for a short stretch that builds many long-lived
    objects (importing torch and transformers, loading models), where the collector's passes
    over them cost ~10% of a cold `dnd generate` and find nothing to free. Re-enabled after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def main(argv: list[str] | None = None) -> int:
    """Run the `dnd` command line `argv` (None: this process's own, sys.argv)."""
    code, fast_exit = _main(argv)
    if argv is None:
        # The process exits next. Python's last garbage collection would walk every object
        # torch and the models created (0.2-0.6 s of a cold `dnd generate`); frozen objects
        # are skipped, and nothing left at exit needs collecting. In-process callers (tests
        # pass argv) keep a normal collector.
        gc.freeze()
        if fast_exit:
            # A command whose files are all closed when it returns (`dnd generate`) skips the
            # interpreter's teardown of torch's modules as well (~0.05 s of a one-second command).
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return code


def _main(argv: list[str] | None) -> tuple[int, bool]:
    """The exit code of the command line, and whether its command asks for a fast exit."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from packages, never a hub
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # transformers' own deprecation notices (e.g. is_gradient_checkpointing) are not the user's concern
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, for reports
    if not getattr(args, "func", None):
        parser.print_help()
        return 0, False
    quiet_progress_bars()
    return _run(args), getattr(args, "fast_exit", False)


def _run(args) -> int:
    try:
        return int(args.func(args) or 0)
    except DndError as e:
        print(f"dnd: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # the file system refused (unwritable path, disk full): the user's to fix
        where = f"{e.filename}: " if e.filename else ""
        print(f"dnd: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dnd: interrupted (finished work is kept; rerun the same command to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

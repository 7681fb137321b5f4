"""The command line: small commands over the Python API. Each command lives in its own module.

A command module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args, settings, console) -> int``,
``NEEDS_MODELS = False`` when it never loads a model (demo mode then skips building the tiny models), and
``SETTINGS``, the setting flags it uses (:data:`SETTING_FLAGS`' fields; default: all of them).
Errors the user caused (:class:`~unison_agent.contract.errors.UnisonError`) are printed as one clear line, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from unison_agent.contract.errors import UnisonError

# command name -> module (imported only to register arguments; modules import heavy things lazily)
COMMANDS: dict[str, str] = {
    "plan": "unison_agent.cli.plan_cmd",
    "annotate": "unison_agent.cli.annotate_cmd",
    "run": "unison_agent.cli.run_cmd",
    "chat": "unison_agent.cli.chat_cmd",
    "chain": "unison_agent.cli.chain_cmd",
    "web": "unison_agent.cli.web_cmd",
    "download": "unison_agent.cli.download_cmd",
    "doctor": "unison_agent.cli.doctor_cmd",
    "eval": "unison_agent.cli.eval_cmd",
    "mcp": "unison_agent.cli.mcp_cmd",
    "batch": "unison_agent.cli.batch_cmd",
    "train": "unison_agent.cli.train_cmd",
}

SETTING_FLAGS = (
    # flag, settings field, metavar, help
    ("--home", "home", "DIR", "user data directory (env UNISON_HOME)"),
    ("--planner", "planner", "{auto,unison,qwen,rules}", "planner backend (env UNISON_PLANNER)"),
    ("--device", "device", "DEVICE", "auto, cpu, cuda, cuda:N, mps (env UNISON_DEVICE)"),
    ("--dtype", "dtype", "DTYPE", "auto, float32, bfloat16, float16 (env UNISON_DTYPE)"),
    (
        "--verify",
        "verify_attempts",
        "N",
        "check each generation against the request; up to N attempts (env UNISON_VERIFY_ATTEMPTS)",
    ),
    (
        "--verify-threshold",
        "verify_threshold",
        "P",
        "mean P(yes) an attempt needs to pass, default 0.7 (env UNISON_VERIFY_THRESHOLD)",
    ),
    (
        "--qwen",
        "qwen",
        "ID_OR_DIR",
        "Qwen2.5-VL checkpoint: a hub id under the models folder or a local directory (env UNISON_QWEN)",
    ),
    (
        "--unison",
        "unison",
        "ID_OR_DIR",
        "the Unison LoRA adapter + projector.pth: hub id or local directory (env UNISON_UNISON)",
    ),
    (
        "--planner-merged",
        "planner_merged",
        "DIR",
        "a merged planner directory (base + LoRA) (env UNISON_PLANNER_MERGED)",
    ),
    ("--projector", "projector", "FILE", "projector.pth to use instead of the adapter's own (env UNISON_PROJECTOR)"),
    (
        "--vace",
        "vace",
        "ID_OR_DIR",
        "Wan2.1-VACE checkpoint (diffusers layout): hub id or local directory (env UNISON_VACE)",
    ),
    ("--demo", "demo", None, "use tiny built-in demo models (built once into the demo cache) and the rules planner"),
)
"""The settings every command may take as flags. A command module lists the ones it uses in ``SETTINGS`` (the
fields); without that list it takes them all."""


def add_setting_flags(parser: argparse.ArgumentParser, fields: Sequence[str] | None = None) -> None:
    """Add the setting flags a command uses (``fields``; None: all) to its parser, with readable metavars."""
    for flag, dest, metavar, help_text in SETTING_FLAGS:
        if fields is not None and dest not in fields:
            continue
        if metavar is None:  # a switch
            parser.add_argument(
                flag, dest=f"setting_{dest}", action="store_const", const=True, default=None, help=help_text
            )
        else:
            parser.add_argument(flag, dest=f"setting_{dest}", default=None, metavar=metavar, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unison",
        description="A local multimodal assistant: understands, creates and edits images and videos (Unison method).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        add_setting_flags(p, getattr(module, "SETTINGS", None))
        p.set_defaults(_module=module_name)
    return parser


def settings_from_args(args: argparse.Namespace):
    from unison_agent.contract.settings import Settings

    flags = {k.removeprefix("setting_"): v for k, v in vars(args).items() if k.startswith("setting_")}
    return Settings.resolve(flags)


def make_console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def quiet_libraries() -> None:
    """The CLI shows its own progress: keep the libraries' bars and deprecation chatter off stderr from the start
    (the bars are also switched off where models load, :func:`unison_agent.core.progress.quiet_library_bars`;
    TRANSFORMERS_VERBOSITY=info shows the libraries' log messages again)."""
    import os
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def apply_demo(settings, *, build: bool, console):
    """Demo mode, applied once here for every command: the demo's defaults, and the tiny models built (once
    into the demo folder) for commands that load models. What the person stated (a flag, an UNISON_* variable)
    stays: ``--demo --planner unison --unison DIR`` plans with their adapter on the tiny base model."""
    from unison_agent.core.demo import demo_defaults, demo_settings

    keep = frozenset(settings.model_fields_set) - {"demo"}
    build = build or settings.planner in ("unison", "qwen")  # `plan --demo --planner unison` loads a planner
    if not build:
        return demo_defaults(settings, keep=keep)
    with console.status("preparing the demo models (built once into the demo folder)..."):
        return demo_settings(settings, keep=keep)


def main(argv: Sequence[str] | None = None) -> int:
    quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    err = make_console(stderr=True)
    try:
        settings = settings_from_args(args)
        module = importlib.import_module(args._module)
        if settings.demo:
            settings = apply_demo(settings, build=getattr(module, "NEEDS_MODELS", True), console=err)
        return int(module.run(args, settings, make_console()) or 0)
    except UnisonError as exc:
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # one line, greppable
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `unison plan ... | head`
        return 0
    except OSError as exc:  # our own files: UNISON_HOME a file, not writable, a full disk
        from rich.markup import escape

        from unison_agent.contract.errors import describe_os_error

        err.print(f"[bold red]error:[/] {escape(describe_os_error(exc))}", highlight=False, soft_wrap=True)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

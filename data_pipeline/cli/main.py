"""``data-pipeline``: the installed package's one command, a dispatcher to the tools' own
command lines (each keeps its module entry point too).

    data-pipeline run ...       the workflow         (python data_pipeline/schema_workflow.py)
    data-pipeline validate ...  step 3 on a pair file (python -m data_pipeline.sql_validation)
    data-pipeline search ...    the training store   (python -m data_pipeline.training_load.search)
    data-pipeline serve ...     the API service      (python citu_app.py)
    data-pipeline worker ...    a queue worker       (python -m data_pipeline.worker)

Only the chosen command's module is imported, so ``--version`` and ``--help`` are instant.
"""

from __future__ import annotations

import importlib
import sys

from data_pipeline import __version__

PROG = "data-pipeline"
# command -> (module, what it does); each module has main(argv, prog=...) -> exit code.
COMMANDS = {
    "run": ("data_pipeline.cli.workflow", "run the workflow (all steps, or some) on a database"),
    "validate": ("data_pipeline.sql_validation.__main__", "validate a question-SQL pair file"),
    "search": ("data_pipeline.training_load.search", "look up the training store"),
    "serve": ("citu_app", "serve the REST API and the web console"),
    "worker": ("data_pipeline.jobqueue.cli", "take queued runs and run them"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        f"usage: {PROG} [--version] [--help] COMMAND [ARGS...]",
        "",
        "Turns a PostgreSQL database into Text-to-SQL training data.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()),
        "",
        f"'{PROG} COMMAND --help' describes a command's options.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(f"{PROG} {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"{usage()}\n\n{PROG}: error: unknown command {command!r}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(rest, prog=f"{PROG} {command}")


if __name__ == "__main__":
    sys.exit(main())

"""``anyint``: the command line (also ``python -m anyint_async``).

    anyint demo [--count 200] [--out DIR]
    anyint batch jobs.jsonl --out DIR [--concurrency N]
    anyint dashscope image|video --model M --prompt P [...] --out DIR
    anyint kling image|omni-image|omni-video --prompt P [...] --out DIR
    anyint task get ID --provider dashscope|kling.images|kling.omni_image|kling.omni_video

``ANYINT_API_KEY`` and ``ANYINT_BASE_URL`` are read everywhere. A mistake prints one line
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .._errors import AnyIntError
from .._version import __version__
from ._commands import run_batch, run_demo, run_single, run_task_get
from ._routes import add_route_flags

__all__ = ["build_parser", "main"]


def _common(parser: argparse.ArgumentParser, *, polling: bool = True) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--base-url", default=None, help="gateway URL (default: ANYINT_BASE_URL)")
    if polling:
        polls = parser.add_argument_group("polling")
        polls.add_argument(
            "--poll",
            choices=("fast", "default", "frugal"),
            default=None,
            help="how soon a finished task is found: within 5%%, 10%% or 30%% of its run, "
            "half that on average (default: default)",
        )
        target = polls.add_mutually_exclusive_group()
        target.add_argument(
            "--target-delay",
            type=float,
            default=None,
            metavar="FRACTION",
            help="how soon each finished task is found, as a fraction of its run (0.1: within "
            "a tenth of it, a twentieth on average); any point between the presets",
        )
        target.add_argument(
            "--target-delay-seconds",
            type=float,
            default=None,
            metavar="SECONDS",
            help="how soon each finished task is found, in seconds (within it, half of it on "
            "average), alike for short and long tasks",
        )
        polls.add_argument(
            "--first-poll", type=float, default=None, help="seconds before the first query"
        )
        polls.add_argument(
            "--poll-interval", type=float, default=None, help="seconds between queries, at first"
        )
        polls.add_argument(
            "--max-poll-interval", type=float, default=None, help="longest wait between queries"
        )
        polls.add_argument(
            "--duration-memory",
            default=None,
            metavar="FILE",
            help="remember how long tasks took in FILE and start from it next time, so a "
            "repeated batch's first tasks are polled when such tasks end",
        )


def _single(parser: argparse.ArgumentParser, route: str) -> None:
    add_route_flags(parser, route)
    parser.add_argument("--out", default=".", help="folder for the result files (default: .)")
    parser.add_argument(
        "--name", default=None, help="file name without extension (default: task id)"
    )
    if route == "dashscope.images":
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="seconds to wait for the generated image (default 300): it answers only "
            "when the image is made, and a timed-out image cannot be fetched again",
        )
    else:
        parser.add_argument(
            "--timeout",
            type=float,
            default=3600.0,
            help="seconds to wait for the task (default 3600); it goes on upstream after that",
        )
    _common(parser)
    parser.set_defaults(handler=run_single, route=route)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``anyint`` command tree."""
    parser = argparse.ArgumentParser(
        prog="anyint", description="AnyInt media generation from the command line."
    )
    parser.add_argument("--version", action="version", version=f"anyint_async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run a mixed batch against the built-in simulated gateway"
    )
    demo.add_argument("--count", type=int, default=200, help="jobs in the batch (default 200)")
    demo.add_argument("--out", default=None, help="output folder (default: anyint-demo/run-<time>)")
    demo.add_argument("--concurrency", type=int, default=16, help="creates at once (default 16)")
    demo.add_argument(
        "--time-scale", type=float, default=0.002, help="simulated time factor (default 0.002)"
    )
    demo.add_argument(
        "--fail-rate", type=float, default=0.05, help="share of tasks that fail (default 0.05)"
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the simulation")
    _common(demo, polling=False)
    demo.set_defaults(handler=run_demo)

    batch = commands.add_parser(
        "batch",
        help="run a JSONL file of jobs; re-run to resume",
        description="Run a JSONL file of jobs into --out; run the same command again to resume "
        "after a crash or Ctrl-C (nothing is paid for twice).",
        epilog="One run writes a folder at a time: while a run holds --out, a second one "
        "refuses at once with exit status 2, creates nothing, and names the process that "
        "holds it. The lock dies with its process, so a run that was killed leaves nothing "
        "to clean up. Exit status: 0 every job succeeded, 1 a job failed, 2 a mistake or the "
        "folder is held, 128+N stopped by signal N.",
    )
    batch.add_argument("jobs", help="JSONL file: one {key, route, params} object per line")
    batch.add_argument("--out", required=True, help="output folder (journal, manifest and files)")
    batch.add_argument("--concurrency", type=int, default=8, help="creates at once (default 8)")
    batch.add_argument(
        "--creates-per-second", type=float, default=None, help="cap on the create rate"
    )
    batch.add_argument(
        "--retry-uncertain",
        action="store_true",
        help="create again DashScope jobs whose earlier create may or may not have happened",
    )
    _common(batch)
    batch.set_defaults(handler=run_batch)

    dashscope = commands.add_parser(
        "dashscope", help="one DashScope image or video"
    ).add_subparsers(dest="kind", required=True, metavar="KIND")
    _single(
        dashscope.add_parser("image", help="generate an image (answers at once)"),
        "dashscope.images",
    )
    _single(
        dashscope.add_parser("video", help="create a video task and wait for it"),
        "dashscope.videos",
    )

    kling = commands.add_parser("kling", help="one Kling image or video").add_subparsers(
        dest="kind", required=True, metavar="KIND"
    )
    _single(kling.add_parser("image", help="Kling v2.1 image task"), "kling.images")
    _single(kling.add_parser("omni-image", help="Kling V3 Omni image task"), "kling.omni_image")
    _single(kling.add_parser("omni-video", help="Kling V3 Omni video task"), "kling.omni_video")

    task = commands.add_parser("task", help="look at a task").add_subparsers(
        dest="kind", required=True, metavar="KIND"
    )
    get = task.add_parser("get", help="query a task by id, wait for it and save its files")
    get.add_argument("task_id", help="the task id")
    get.add_argument(
        "--provider",
        required=True,
        help="dashscope, kling.images, kling.omni_image or kling.omni_video",
    )
    get.add_argument("--no-wait", action="store_true", help="print the current state and stop")
    get.add_argument("--out", default=".", help="folder for the result files (default: .)")
    get.add_argument("--name", default=None, help="file name without extension (default: task id)")
    get.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default 3600)")
    _common(get)
    get.set_defaults(handler=run_task_get)
    return parser


def _plain(error: BaseException) -> BaseException:
    """The one error inside task-group wrappers, so the user sees it, not the wrapping."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status: 0 ok, 1 a job failed, 2 a mistake,
    124 ``--timeout`` ran out (the task goes on upstream), 128+N stopped by signal N (130 for
    Ctrl-C)."""
    args = build_parser().parse_args(argv)
    try:
        return int(asyncio.run(args.handler(args)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (AnyIntError, OSError, BaseExceptionGroup) as exc:
        # Our errors and the file system's (a folder that cannot be written, a full disk) are
        # the user's to fix: one line. Anything else is a bug and keeps its traceback.
        error = _plain(exc)
        if args.debug or not isinstance(error, AnyIntError | OSError):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2

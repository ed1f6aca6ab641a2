"""``python -m anyint_async.testing``: run the simulated gateway as its own process.

Prints the API base URL on one line (then flushes), and serves until SIGTERM or SIGINT, so a
benchmark can measure the client's CPU and memory apart from the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence

from ._callbacks import CallbackFaults
from ._faults import Fault, fault_from_json, faults_from_json
from ._gateway import FakeGateway
from ._timing import ModelProfile, profiles_from_json


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m anyint_async.testing", description="Run the simulated AnyInt gateway."
    )
    parser.add_argument("--host", default="127.0.0.1", help="API listen address")
    parser.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    parser.add_argument("--files-host", default=None, help="file host address (default: --host)")
    parser.add_argument("--files-port", type=int, default=0, help="file host port")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiply task durations")
    parser.add_argument("--seed", type=int, default=0, help="seed for ids, durations, failures")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of tasks that fail")
    parser.add_argument("--max-in-flight", type=int, default=None, help="tasks per account")
    parser.add_argument("--url-ttl", type=float, default=None, help="result URL life (sim s)")
    parser.add_argument("--faults", default=None, help="JSON file: a list of fault specs")
    parser.add_argument(
        "--clock-skew",
        type=float,
        default=0.0,
        help="seconds added to every provider timestamp (negative: a clock behind)",
    )
    parser.add_argument(
        "--lose-create-answers",
        type=float,
        default=0.0,
        metavar="RATE",
        help="share of creates whose answer is lost after the task was made (0 to 1)",
    )
    parser.add_argument(
        "--profiles", default=None, help="JSON file: duration profiles by model or route family"
    )
    parser.add_argument(
        "--query-rate-limit",
        action="append",
        default=[],
        metavar="PROVIDER=N",
        type=_rate_limit,
        help="refuse task queries beyond N per second per account, e.g. dashscope=20 kling=10",
    )
    parser.add_argument("--callback-lose", type=float, default=0.0, help="share of callbacks lost")
    parser.add_argument(
        "--callback-duplicate", type=float, default=0.0, help="share of callbacks sent twice"
    )
    parser.add_argument(
        "--callback-delay", type=float, default=0.0, help="seconds each callback may be late"
    )
    parser.add_argument(
        "--callback-reorder",
        type=float,
        default=0.0,
        help="share of tasks whose start callback arrives after the end one",
    )
    parser.add_argument(
        "--callback-relay-drops", action="store_true", help="send no callback at all"
    )
    parser.add_argument("--callback-secret", default=None, help="sign callbacks with this secret")
    return parser


def _rate_limit(text: str) -> tuple[str, float]:
    provider, _, number = text.partition("=")
    if provider not in ("dashscope", "kling"):
        raise argparse.ArgumentTypeError(f"provider must be dashscope or kling, got {provider!r}")
    try:
        return provider, float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"N must be a number, got {number!r}") from None


async def _serve(
    args: argparse.Namespace, faults: list[Fault], profiles: dict[str, ModelProfile]
) -> None:
    gateway = FakeGateway(
        host=args.host,
        port=args.port,
        files_host=args.files_host,
        files_port=args.files_port,
        api_key=args.api_key,
        time_scale=args.time_scale,
        seed=args.seed,
        fail_rate=args.fail_rate,
        max_in_flight=args.max_in_flight,
        url_ttl=args.url_ttl,
        faults=faults,
        profiles=profiles,
        clock_skew=args.clock_skew,
        query_rate_limit=dict(args.query_rate_limit),
        callback_faults=CallbackFaults(
            lose=args.callback_lose,
            duplicate=args.callback_duplicate,
            delay=args.callback_delay,
            reorder=args.callback_reorder,
            relay_drops=args.callback_relay_drops,
        ),
        callback_secret=args.callback_secret,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with gateway:
        print(gateway.url, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    faults: list[Fault] = []
    if args.faults:
        with open(args.faults, encoding="utf-8") as handle:
            faults = faults_from_json(json.load(handle))
    profiles: dict[str, ModelProfile] = {}
    if args.lose_create_answers:
        # The task is made, then the connection drops: the answer with its id never arrives.
        faults.append(
            fault_from_json(
                {"kind": "drop", "routes": ["create"], "rate": args.lose_create_answers}
            )
        )
    if args.profiles:
        with open(args.profiles, encoding="utf-8") as handle:
            profiles = profiles_from_json(json.load(handle))
    asyncio.run(_serve(args, faults, profiles))
    return 0


if __name__ == "__main__":
    sys.exit(main())

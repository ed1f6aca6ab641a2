"""Benchmarks: anyint_async against the official DashScope SDK and naive polling loops.

Run ``python -m benchmarks`` (or ``--quick``). Every contender runs in its own process against
its own simulated gateway process, so client CPU and memory are the client's alone.
"""

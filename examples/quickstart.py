"""Every route once, against the built-in simulated gateway: no key, no network.

python examples/quickstart.py
"""

from __future__ import annotations

import asyncio

from anyint_async import AnyIntSession, PollPolicy
from anyint_async.testing import FakeGateway

# The simulated gateway runs 1000x faster than the real providers, so the scheduler's real-world
# defaults (videos first asked after 10 s) are scaled down to match.
FAST = PollPolicy(first_poll=0.01, interval=0.01, max_interval=0.05)


async def main() -> None:
    # time_scale=0.001: a four-minute video finishes in about a quarter of a second.
    async with FakeGateway(time_scale=0.001, seed=1) as gateway:
        async with AnyIntSession("demo-key", base_url=gateway.url, poll_policy=FAST) as session:
            image = await session.dashscope.images.generate(
                model="qwen-image-plus", prompt="A neon product poster", size="1328*1328"
            )
            print(f"dashscope.images   -> {image.urls[0][:60]}...")
            tasks = [
                await session.dashscope.videos.create(
                    model="happyhorse-1.0-t2v",
                    prompt="A rapper under a railway bridge",
                    duration=10,
                ),
                await session.kling.images.create(prompt="A red fox in snow", n=2),
                await session.kling.omni_image.create(prompt="A watercolor harbour"),
                await session.kling.omni_video.create(
                    prompt="A paper boat in the rain", duration=5
                ),
            ]
            async for task in session.as_completed(tasks, timeout=60):
                print(f"{task.route.value:<18} -> {task.status.value} {len(task.urls)} file(s)")
        print(f"gateway saw {sum(gateway.stats.requests.values())} requests")


if __name__ == "__main__":
    asyncio.run(main())

"""anyint_async in a FastAPI app: one session for the app's life, a video endpoint that waits,
a batch whose progress streams as server-sent events, and Kling callbacks as wake-ups.

With ``ANYINT_CALLBACK_URL`` set to where this app's ``/anyint/callback`` can be reached, every
Kling task is created with it: Kling POSTs there when a task starts and ends, and the session asks
about the task at once instead of polling it (a lost callback costs at most the session's
``callback_fallback``). ``ANYINT_CALLBACK_SECRET`` makes the app refuse unsigned callbacks.

Under several workers (``uvicorn --workers 4``, gunicorn, replicas) a callback reaches whichever
worker the kernel or the load balancer picks, most often not the one waiting for its task: set
``ANYINT_COORDINATION_URL=redis://...`` (``pip install "anyint_async[redis]"``) and every
worker's session passes such callbacks on, and shares the account's query limit, through Redis.
The tests run this app with ``uvicorn --workers 3`` that way.

Run it against the simulated gateway (no key, no network)::

    pip install -e ".[examples]"
    python -m anyint_async.testing --port 8001 --time-scale 0.01 &
    ANYINT_API_KEY=any ANYINT_BASE_URL=http://127.0.0.1:8001 \
    ANYINT_CALLBACK_URL=http://127.0.0.1:8000/anyint/callback uvicorn examples.fastapi_app:app

FastAPI is needed by this example only, never by the SDK.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from anyint_async import AnyIntSession, TaskFailedError, TaskTimeoutError
from anyint_async.batch import BatchFileError, BatchRunner
from anyint_async.webhooks import asgi_app


class VideoRequest(BaseModel):
    prompt: str
    duration: int = 5


class BatchRequestBody(BaseModel):
    name: str
    jobs: list[dict[str, Any]]


def create_app(out_dir: Path | None = None) -> FastAPI:
    """The app; batches are saved under ``out_dir`` (default: ``$RENDERS_DIR`` or renders)."""
    renders = out_dir or Path(os.environ.get("RENDERS_DIR", "renders"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One session (one connection pool, one polling scheduler) for every request.
        async with AnyIntSession(
            callback_url=os.environ.get("ANYINT_CALLBACK_URL"),
            callback_secret=os.environ.get("ANYINT_CALLBACK_SECRET"),
        ) as session:
            app.state.anyint = session
            yield

    app = FastAPI(lifespan=lifespan)
    # Callbacks wake the session's scheduler; what waiters get is always the API's answer.
    app.add_route("/anyint/callback", asgi_app(lambda: app.state.anyint), methods=["POST"])

    @app.post("/video")
    async def render_video(body: VideoRequest, request: Request) -> dict[str, Any]:
        session: AnyIntSession = request.app.state.anyint
        task = await session.kling.omni_video.create(prompt=body.prompt, duration=body.duration)
        try:
            done = await session.wait(task, timeout=900)
        except TaskFailedError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        except TaskTimeoutError:
            # The task goes on upstream: give the client its id to ask again later.
            raise HTTPException(status_code=504, detail={"task_id": task.id}) from None
        return {"task_id": done.id, "video": done.urls[0]}

    @app.post("/batches")
    async def render_batch(body: BatchRequestBody, request: Request) -> StreamingResponse:
        session: AnyIntSession = request.app.state.anyint
        try:
            runner = BatchRunner(session, body.jobs, renders / body.name)
        except BatchFileError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None

        async def events() -> AsyncIterator[str]:
            async with runner.results() as results:
                async for result in results:
                    payload = {
                        "key": result.key,
                        "status": result.status.value,
                        "saved": result.saved,
                        "files": [path.name for path in result.files],
                        "error": result.error.message if result.error else None,
                        "finished": runner.progress.finished,
                        "total": runner.progress.total,
                    }
                    yield f"data: {json.dumps(payload)}\n\n"
            yield "event: done\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


app = create_app()

"""Training off the request threads: the transformer's fit runs in a spawned process with a bounded number of
torch threads, receives the training frame and sends back the serialised model and its validation metrics.

Spawned, not forked: a fork would copy the serving process's open store handles and threads. The child
imports only the model (never the store; only the serving process may open the embedded store) and reports
its progress over a queue, which the parent hands to ``progress``.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import queue
import traceback
from collections.abc import Callable

import pandas as pd

from engine.workers import exit_with_parent

Progress = Callable[[int, int, str], None]
#: How often the parent checks that the child is still alive while it waits for a message (seconds).
_POLL = 0.5


class WorkerError(RuntimeError):
    """The training process failed or died; the message carries the child's error."""


def _train(messages, frame: pd.DataFrame, settings: dict, threads: int) -> None:
    """The child: bound torch's threads before anything else runs, fit, send back the model."""
    exit_with_parent()
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    try:
        from engine.forecast.transformer import TransformerModel

        options = dict(settings)
        model = TransformerModel(seed=options.pop("seed", 0), horizon=options.pop("horizon", 24), **options)
        model.fit(frame, progress=lambda done, total, message: messages.put(("progress", done, total, message)))
        messages.put(("done", model.to_bytes(), dict(model.metrics)))
    except BaseException as exc:  # everything goes back to the parent, which raises it there
        messages.put(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))


def _next(messages, child) -> tuple | None:
    """The child's next message; None if there is none yet; WorkerError if it died without sending one."""
    try:
        return messages.get(timeout=_POLL)
    except queue.Empty:
        pass
    if child.is_alive():
        return None
    try:  # it may have sent its last message just before it exited
        return messages.get(timeout=_POLL)
    except queue.Empty:
        raise WorkerError(f"the training process exited (code {child.exitcode}) without a result") from None


def train_in_worker(frame: pd.DataFrame, settings: dict | None = None, threads: int = 1,
                    progress: Progress | None = None, timeout: float | None = None) -> tuple[bytes, dict]:
    """Fit a :class:`~engine.forecast.transformer.TransformerModel` on ``frame`` in a spawned process limited
    to ``threads`` torch threads; return (model bytes, validation metrics). ``settings`` may hold ``seed`` and
    ``horizon`` besides the model's settings. A failure or crash of the child raises :class:`WorkerError`."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    child = context.Process(target=_train, args=(messages, frame, dict(settings or {}), int(threads)),
                            name="forecast-training", daemon=True)
    child.start()
    waited = 0.0
    try:
        while True:
            message = _next(messages, child)
            if message is None:
                waited += _POLL
                if timeout is not None and waited > timeout:
                    raise WorkerError(f"training did not finish within {timeout:.0f} s")
                continue
            kind = message[0]
            if kind == "progress":
                if progress:
                    progress(*message[1:])
            elif kind == "done":
                return message[1], message[2]
            else:
                raise WorkerError(f"training failed in the worker process: {message[1]}\n{message[2]}")
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join()
        with contextlib.suppress(Exception):
            messages.close()

"""One video of a batch in a process of its own, so that a decoder crashing on it (a hostile
or damaged file: FFmpeg's decoders are C) fails that video alone.

In veil's own process such a crash ended the whole batch: no report, the files after it never
ran, its half-written `.veil-*.part` left in the output folder. The child runs one call and
sends back its result; its death is that file's failure, with the reason. Ctrl-C, SIGTERM
and SIGHUP stop the parent, which stops the child the way `veil` stops (SIGTERM: temporary
outputs removed) and waits for it, so nothing is left behind; a child whose parent dies
stops itself.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

from .. import InternalError, VeilError, remove_stale_parts

T = TypeVar("T")
CRASHED = ("internal error: its worker process died on it (a decoder crash: the file may be "
           "damaged or hostile)")
STOP_WAIT_S = 60.0  # a stopped child removes its temporary files; then it is killed


def in_own_process(call: Callable[..., T], *args: Any, writes_to: Path | None = None) -> T:
    """`call(*args)` (a module-level function, its arguments picklable) in a new process: its
    result, or the VeilError it raised; an InternalError (CRASHED) when the process dies,
    after removing the temporary files it was writing in the folder `writes_to`."""
    context = multiprocessing.get_context("spawn")  # a fork would copy our threads' locks
    receive, send = context.Pipe(duplex=False)
    # not a daemon: on a host with many cores a video's passes run on processes of their own
    child = context.Process(target=_child, args=(send, call, args), name="veil-video")
    began = time.time()
    try:
        child.start()
    except OSError as exc:  # out of processes or memory: this file fails, the batch goes on
        raise InternalError(f"internal error: cannot start its process: {exc.strerror or exc}"
                            ) from exc
    finally:
        send.close()
    try:
        answer = _answer(receive, child)
    except KeyboardInterrupt:  # Ctrl-C (the child ignores it), SIGTERM or SIGHUP
        _stop(child, writes_to, began)
        raise
    finally:
        receive.close()
    child.join()
    if answer is None:
        _remove_parts(writes_to, began)
        raise InternalError(CRASHED)
    kind, value = answer
    if kind == "error":
        raise value
    return value


def _answer(receive: Connection, child: BaseProcess) -> tuple[str, Any] | None:
    """What the child sent, or None when it died without sending anything."""
    while True:
        ready = wait([receive, child.sentinel])
        if receive in ready or receive.poll():
            try:
                return receive.recv()
            except EOFError:
                return None
        if child.sentinel in ready:
            return None


def _remove_parts(folder: Path | None, began: float) -> None:
    if folder is not None:
        remove_stale_parts({folder}, made_since=began)


def _stop(child: BaseProcess, writes_to: Path | None, began: float) -> None:
    if child.is_alive():
        child.terminate()
        child.join(STOP_WAIT_S)
    if child.is_alive():  # stuck in a decoder
        child.kill()
        child.join()
    if child.exitcode is None or child.exitcode < 0:  # killed: its temporary files are ours
        _remove_parts(writes_to, began)


class _Stopped(KeyboardInterrupt):
    pass


def _raise_stopped(signum: int, frame: object) -> None:
    # once: a second SIGTERM (systemd signals every process, then veil signals us) must not
    # break into the removal of what the first one stopped
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stopped


def _unheeded(signum: int, frame: object) -> None:
    """A terminal's signal (Ctrl-C, a closed terminal): the parent decides when we stop."""


def _child(send: Connection, call: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # Not SIG_IGN, which the processes a video's parts render on (8+ threads) would inherit:
    # they are to stop at once on the terminal's signals, as they did in veil's own process.
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _unheeded)
    signal.signal(signal.SIGTERM, _raise_stopped)
    threading.Thread(target=_stop_with_parent, daemon=True).start()
    try:
        answer: tuple[str, Any] = ("done", call(*args))
    except VeilError as exc:
        answer = ("error", exc)
    except KeyboardInterrupt:  # stopped: the call removed what it had begun to write
        return
    except Exception as exc:  # noqa: BLE001 - a bug fails this file, not the batch
        answer = ("error", InternalError(f"internal error: {type(exc).__name__}: {exc}"))
    send.send(answer)


def _stop_with_parent() -> None:
    """Stop (as SIGTERM does) when the parent process dies: nobody waits for this file."""
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

"""The one exception family for errors a user or a file can cause, each a single line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar


class VeilError(Exception):
    """An error with a one-line message meant for the person running veil."""

    def __init__(self, message: object = "") -> None:
        # One line, whatever went into it (a decoder's multi-line message, a name with a
        # newline): front ends print it as it is.
        super().__init__(" ".join(str(message).split()))


class InputError(VeilError):
    """The input file cannot be processed safely (corrupt, truncated, unsupported, too large)."""


class RefusedError(InputError):
    """veil declines this input on purpose (over a limit, a kind it does not handle); the
    report counts it as refused, not failed."""


class SetupError(VeilError):
    """veil itself is not usable as installed (for example, no detector weights)."""


class PartsDoNotJoin(VeilError):
    """Separately encoded parts of one video cannot be joined as they are (their encoders
    wrote different stream headers, or their timestamps would run backwards at a seam): the
    video is to be encoded whole instead."""


class InternalError(VeilError):
    """A bug in veil met while processing one file: that file fails, the rest go on."""


P = ParamSpec("P")
R = TypeVar("R")


def one_file(func: Callable[P, R]) -> Callable[P, R]:
    """The boundary of an engine call on one file: every failure leaves it as a VeilError.

    Errors the file causes are InputErrors already (the decoders raise them); running out
    of memory is the file's too; anything else is a bug, raised as an InternalError with one
    line, so that the file fails alone and the batch, the service and the report go on.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except VeilError:
            raise
        except MemoryError as exc:
            raise InputError("not enough memory to process this file") from exc
        except Exception as exc:  # noqa: BLE001 - the boundary: see above
            raise InternalError(f"internal error: {type(exc).__name__}: {exc}") from exc

    return wrapper

"""The one exception type for errors a user can cause (bad input, bad options, missing weights)."""

from __future__ import annotations


class VeilError(Exception):
    """An error with a one-line message meant for the person running veil."""


class InputError(VeilError):
    """The input file cannot be processed safely (corrupt, truncated, unsupported, too large)."""


class SetupError(VeilError):
    """veil itself is not usable as installed (for example, no detector weights)."""

"""The errors the library raises; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class CorralError(Exception):
    """Base of every error the library raises on purpose."""


class ValuesError(CorralError):
    """A values file cannot be read or parsed."""


class ToolError(CorralError):
    """An external tool (helm) is missing or failed."""

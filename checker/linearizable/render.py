"""Placeholder replaced below."""

from typing import Any


def render_html(result: dict[str, Any]) -> str:
    """Draw violations (stub)."""
    return ""

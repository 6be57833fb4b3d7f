"""The README's siblings sample is a real session's: its contexts decode as a put of that key accepts them."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from minikeydb.dvv import Context

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_sibling_contexts_decode_for_their_key_and_match_the_text() -> None:
    """Every context the README prints decodes for key 'cart' (as `put --context` does), and the JSON the README
    says is inside the first one is exactly what it holds."""
    text = README.read_text()
    contexts = sorted(set(re.findall(r"context:? ([A-Za-z0-9_=-]{40,})", text)) | set(
        re.findall(r"--context ([A-Za-z0-9_=-]{40,})", text)))
    assert contexts
    for ctx in contexts:
        Context.decode(ctx, "cart")
    first = re.search(r"\$ python -m minikeydb get cart[^\n]*\n(?:[^\n]*\n)*?context: (\S+)", text)
    assert first is not None
    inside = json.loads(base64.urlsafe_b64decode(first.group(1)))
    said = re.search(r"\(here\s+`(\{.*?\})`", text, re.S)
    assert said is not None and json.loads(said.group(1)) == inside

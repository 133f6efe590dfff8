"""Model artifacts as skops bytes, loaded only when every type in them is on our own allowlist.

skops trusts many types by default and has had loader bypasses, so ``load`` does not rely on its
defaults: it reads the file's schema first, collects every type, function and node loader named
anywhere in it (and the bit generator a numpy ``Generator`` would be rebuilt with, which skops
before 0.16 did not surface), and refuses the file (``UntrustedModel``) unless all of them are
allowed (``training.trusted``). Nothing in a refused file is imported or instantiated. Only then
does ``skops.io.loads`` run, with exactly ``TRUSTED_TYPES`` as its trusted list; afterwards
``training.structure`` checks the trees, boosting grids and SVMs in it before anyone can predict.

Refusals are worded for the person uploading the file ("this model contains X, which modelyard
does not load because …"); ``UntrustedModel.types`` keeps the exact names for logs and tests.
The trainer's own pipelines only use trusted types: a test trains every candidate on every kind of
column and target and checks each loads, so a new type shows up there.
"""
from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import skops.io
from skops.io.exceptions import UntrustedTypesFoundException

from modelyard.training import structure
from modelyard.training.trusted import BIT_GENERATORS, TRUSTED_LOADERS, TRUSTED_TYPES, public_name, refusal

__all__ = ["TRUSTED_TYPES", "ModelFileError", "UntrustedModel", "dump", "load", "referenced_types", "scan"]


class ModelFileError(ValueError):
    """The bytes are not a readable skops model file."""


class UntrustedModel(ModelFileError):
    """The model file holds something modelyard does not load; nothing in it was instantiated
    (or, for a failed structural check, nothing of it is kept)."""

    def __init__(self, message: str, types: list[str] | None = None):
        self.types = sorted(set(types or []))
        self.public_types = sorted({public_name(t) for t in self.types})
        super().__init__(message)

    @classmethod
    def of(cls, found: dict[str, str]) -> UntrustedModel:
        return cls(refusal(found), [f"skops loader: {n}" if k == "loader" else n for n, k in found.items()])


def dump(pipeline: Any) -> bytes:
    """The pipeline as skops bytes."""
    return skops.io.dumps(pipeline)


def load(data: bytes) -> Any:
    """The model stored in ``data``; ``UntrustedModel`` if it names anything not allowed or fails a check."""
    found = scan(data)
    untrusted = {name: kind for name, kind in found.items()
                 if not (kind in ("type", "function") and name in TRUSTED_TYPES)}
    if untrusted:
        raise UntrustedModel.of(untrusted)
    try:
        loaded = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:  # belt and braces: our scan should catch it first
        raise UntrustedModel(f"this model contains types modelyard does not load ({exc})") from exc
    try:
        structure.check(loaded)
    except structure.UnsafeStructure as exc:
        raise UntrustedModel(str(exc), [exc.what]) from None
    return loaded


def referenced_types(data: bytes) -> list[str]:
    """Every name ``scan`` finds, as ``module.Name`` (``skops loader: X`` for loaders outside the
    trusted set, ``numpy.random.<name>`` for an unknown bit generator)."""
    return sorted(f"skops loader: {name}" if kind == "loader" else name for name, kind in scan(data).items())


def scan(data: bytes) -> dict[str, str]:
    """What the file would make skops import or call, read from its schema (JSON only; imports
    nothing): ``{name: kind}`` with kind ``type``, ``function``, ``loader`` (a node loader outside
    ``TRUSTED_LOADERS``) or ``bit generator`` (a Generator's bit generator outside numpy's own)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ModelFileError("A model file must be bytes.")
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"Not a skops model file: {exc}") from exc
    found: dict[str, str] = {}
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            loader = node.get("__loader__")
            if loader is not None and loader not in TRUSTED_LOADERS:
                found[str(loader)] = "loader"  # refused as such; the type it would build needs no second word
            elif "__module__" in node or "__class__" in node:
                name = f"{node.get('__module__')}.{node.get('__class__')}"
                found.setdefault(name, "function" if loader == "FunctionNode" else "type")
            if loader == "RandomGeneratorNode":
                generator = _bit_generator(node)
                if generator not in BIT_GENERATORS:
                    found[f"numpy.random.{generator}"] = "bit generator"
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _bit_generator(node: dict) -> str:
    """The bit generator class name a Generator node would be rebuilt with ('?' when absent)."""
    try:
        name = json.loads(node["content"]["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        return "?"
    return name if isinstance(name, str) else "?"

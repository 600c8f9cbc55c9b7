"""Writing an exported graph only once it is checked: onnx.checker, then parity with torch, then into place.

Every exporter of a step graph (the listener, the answer model) ends the same way: the contract goes into the
metadata, the graph must pass `onnx.checker`, a temporary copy must agree with torch when stepped by the
bridge's own runtime, and only then is it moved into place (atomically) with the parity figures in its
provenance. On any failure no file is left behind.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from sideman.bridge.errors import ModelError
from sideman.export.onnx_export import set_contract


def output_path(out: str | os.PathLike[str]) -> Path:
    """`out` as a Path, its folder made; ModelError unless it names an .onnx file."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise ModelError(f"{out}: the output file name must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def save_checked(out: Path, model: Any, contract: Any, metadata_key: str, parity_of: Callable[[Path], Any]) -> tuple[Any, Any]:
    """Write `model` with `contract` to `out` if it passes onnx.checker and `parity_of(temporary file)` is `ok`
    (a parity with `ok`, `describe()` and `entry()`, the figures for the provenance). Returns (contract as
    written, parity)."""
    import onnx

    tmp = out.with_name(f".{out.name}.tmp")
    try:
        set_contract(model, contract, metadata_key)
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ModelError(f"{out}: exported graph fails onnx.checker ({str(exc).splitlines()[0]}); not written") from None
        onnx.save(model, tmp)
        parity = parity_of(tmp)
        if not parity.ok:
            raise ModelError(f"{out}: ONNX and torch disagree ({parity.describe()}); not written")
        contract = replace(contract, provenance={**contract.provenance, "parity": parity.entry()})
        set_contract(model, contract, metadata_key)
        onnx.save(model, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return contract, parity

"""What every `unison train` test gives the command: the CPU, float32, an isolated home and the tiny kits."""

from __future__ import annotations

from pathlib import Path


def kit_flags(home: Path, tiny_qwen: dict[str, str], tiny_vace: dict[str, str] | None = None) -> list[str]:
    """``--device cpu --dtype float32 --home HOME --qwen ... --unison ...`` (and ``--vace ...``)."""
    flags = ["--device", "cpu", "--dtype", "float32", "--home", str(home)]
    flags += ["--qwen", tiny_qwen["qwen"], "--unison", tiny_qwen["unison"]]
    return flags + (["--vace", tiny_vace["vace"]] if tiny_vace else [])

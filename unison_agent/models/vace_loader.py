"""Load Wan2.1-VACE (diffusers layout) once per process, on the right device, dtype and offload mode.

The directory is the one published as ``Wan-AI/Wan2.1-VACE-1.3B-diffusers`` (or the tiny kit's copy):
``model_index.json`` plus ``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``.
The transformer and text encoder run in the chosen dtype (bf16 on CUDA); the VAE always stays in float32,
as Wan does. The pipeline is cached in :func:`unison_agent.models.registry.registry`, so nothing loads twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from unison_agent.contract.errors import WeightsError
from unison_agent.core.progress import quiet_library_bars
from unison_agent.models.registry import pick_device, pick_dtype, registry

if TYPE_CHECKING:  # pragma: no cover
    from diffusers import WanVACEPipeline

    from unison_agent.contract.settings import Settings

# sub-folder -> files of which at least one must be there
_REQUIRED: dict[str, tuple[str, ...]] = {
    "transformer": ("config.json",),
    "vae": ("config.json",),
    "text_encoder": ("config.json",),
    "tokenizer": ("tokenizer.json", "spiece.model", "tokenizer_config.json"),
    "scheduler": ("scheduler_config.json",),
}
_WEIGHTS = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",
    "diffusion_pytorch_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def check_vace_dir(path: Path) -> None:
    """Raise :class:`WeightsError` naming every missing piece of the diffusers layout."""
    hint = (
        "download Wan-AI/Wan2.1-VACE-1.3B-diffusers there (e.g. `huggingface-cli download "
        "Wan-AI/Wan2.1-VACE-1.3B-diffusers --local-dir <dir>`) or point --vace / UNISON_VACE at such a directory"
    )
    if not path.is_dir():
        raise WeightsError(f"Wan2.1-VACE directory {path} does not exist; {hint}")
    missing: list[str] = []
    if not (path / "model_index.json").is_file():
        missing.append("model_index.json")
    for sub, files in _REQUIRED.items():
        folder = path / sub
        if not folder.is_dir():
            missing.append(f"{sub}/")
            continue
        if not any((folder / f).is_file() for f in files):
            missing.append(f"{sub}/{' or '.join(files)}")
        if sub in ("transformer", "vae", "text_encoder") and not any((folder / w).is_file() for w in _WEIGHTS):
            missing.append(f"{sub}/ weights (*.safetensors)")
    if missing:
        raise WeightsError(f"Wan2.1-VACE directory {path} is incomplete: missing {', '.join(missing)}; {hint}")


def vace_key(settings: Settings) -> tuple[Any, ...]:
    """The registry key: path, device, dtype and offload mode (VAE tiling is switched per call)."""
    device = pick_device(settings)
    dtype = pick_dtype(settings, device)
    return ("vace", str(settings.checkpoint("vace")), str(device), str(dtype), effective_offload(settings, device))


def effective_offload(settings: Settings, device: Any) -> str:
    """Offloading moves weights between CPU and an accelerator; on a CPU device it is meaningless ('none')."""
    return settings.offload if getattr(device, "type", str(device)) != "cpu" else "none"


VACE_LABEL = "Wan2.1-VACE (transformer, VAE, umT5)"


def load_vace(settings: Settings) -> WanVACEPipeline:
    """The Wan2.1-VACE pipeline for ``settings`` (loaded once per process and cached)."""
    return registry().get(vace_key(settings), lambda: _load(settings), label=VACE_LABEL)


def _load(settings: Settings) -> WanVACEPipeline:
    import torch
    from diffusers import AutoencoderKLWan, WanVACEPipeline

    path = settings.checkpoint("vace")
    check_vace_dir(path)
    quiet_library_bars("diffusers", "transformers", "huggingface_hub")  # progress goes out as events instead
    device = pick_device(settings)
    dtype = pick_dtype(settings, device)
    try:
        vae = AutoencoderKLWan.from_pretrained(path, subfolder="vae", dtype=torch.float32)
        pipe = WanVACEPipeline.from_pretrained(path, vae=vae, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(f"could not load Wan2.1-VACE from {path}: {exc.__class__.__name__}: {exc}") from None
    pipe.set_progress_bar_config(disable=True)
    return place(pipe, effective_offload(settings, device), device)


def place(pipe, offload: str, device):
    """Put a pipeline on ``device`` under an offload mode: none (all on the device), model (whole components
    moved to the device in turn), group (diffusers' group offloading: transformer blocks streamed in one at a
    time, overlapped with compute on CUDA streams) or sequential (layer by layer; least memory, slowest)."""
    import torch

    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "group":
        pipe.enable_group_offload(
            onload_device=device,
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=torch.cuda.is_available(),
        )
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    return pipe

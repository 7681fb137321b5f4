"""Loading the stage-one planner (Qwen2.5-VL), once per process, in one of three forms.

- ``merged``: a planner directory where the Unison LoRA is already merged (``settings.planner_merged``);
- ``adapter``: the base Instruct model (``settings.qwen``) + the LoRA adapter (``settings.unison``): the
  fourteen Unison tokens are added in the published order, the embeddings resized when the tokenizer
  outgrows them, the embeddings untied (``lm_head`` becomes a copy of the input embedding, never a random
  matrix) and the adapter loaded (merged in memory on request);
- ``base``: the base Instruct model alone (the ``qwen`` planner and understanding).

Device and dtype come from :func:`unison_agent.models.registry.pick_device`/``pick_dtype`` (CUDA bf16, CPU fp32),
attention from ``pick_attention`` (flash-attention 2 when installed on CUDA, else sdpa).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from unison_agent.contract.errors import WeightsError
from unison_agent.contract.protocol import UNISON_TOKENS

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unison_agent.contract.settings import Settings

Mode = Literal["merged", "adapter", "base", "auto"]

MODEL_FILES = ("config.json", "model.safetensors | model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json | vocab.json + merges.txt", "tokenizer_config.json")
PROCESSOR_FILES = ("preprocessor_config.json | processor_config.json",)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors | adapter_model.bin")


@dataclass
class LoadedPlanner:
    """A loaded planner: the model (a PeftModel in unmerged adapter form), its processor and tokenizer."""

    model: Any
    processor: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    kind: Literal["merged", "adapter", "base"]
    path: str
    """Where it came from (for messages): one directory, or ``base + adapter``."""

    def backbone(self):
        """The Qwen2_5_VLForConditionalGeneration underneath (LoRA layers stay active in adapter form)."""
        model = self.model
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        return model

    @property
    def text_hidden_size(self) -> int:
        config = self.backbone().config
        return int(getattr(config, "text_config", config).hidden_size)

    @property
    def vocab_size(self) -> int:
        return int(self.backbone().get_input_embeddings().weight.shape[0])

    def token_ids(self, tokens: tuple[str, ...] = UNISON_TOKENS) -> list[int]:
        return [int(i) for i in self.tokenizer.convert_tokens_to_ids(list(tokens))]


# ----------------------------------------------------------------------------------------------------------
# presence checks


def _has(path: Path, spec: str) -> bool:
    """``spec`` is 'a | b' (any of) where each alternative may be 'x + y' (all of)."""
    return any(all((path / f.strip()).is_file() for f in alt.split("+")) for alt in spec.split("|"))


def missing_files(path: Path, kind: Literal["model", "adapter"]) -> list[str]:
    """The expected files (as 'a | b' alternatives) that ``path`` lacks; ['<dir>'] when it is no directory."""
    if not path.is_dir():
        return [f"{path} (directory)"]
    specs = MODEL_FILES + TOKENIZER_FILES + PROCESSOR_FILES if kind == "model" else ADAPTER_FILES
    return [s for s in specs if not _has(path, s)]


def _require(path: Path, kind: Literal["model", "adapter"], what: str, setting: str) -> None:
    missing = missing_files(path, kind)
    if missing:
        specs = MODEL_FILES + TOKENIZER_FILES + PROCESSOR_FILES if kind == "model" else ADAPTER_FILES
        raise WeightsError(
            f"{what} at {path} is incomplete: missing {', '.join(missing)}. Expected files: {', '.join(specs)}. "
            f"Point --{setting.replace('_', '-')} / UNISON_{setting.upper()} at the right directory "
            f"or run `unison download`."
        )


def _path(settings: Settings, name: str) -> Path | None:
    value = getattr(settings, name)
    if not value:
        return None
    return settings.checkpoint(name)


def weights_status(settings: Settings) -> dict[str, Any]:
    """What stage-one weights are present (used by ``doctor`` and the planner choice).

    Booleans: ``qwen`` (base model complete), ``adapter`` (LoRA adapter complete), ``planner_merged`` (merged
    planner complete), ``unison`` (the Unison planner can load: merged, or base + adapter), ``projector``
    (``projector.pth`` exists). ``planner``: the form ``load_planner(settings, "auto")`` loads ("merged",
    "adapter", "base" or None). ``paths``/``missing``: per checkpoint, its path and the expected files it lacks.
    """
    paths: dict[str, str | None] = {}
    missing: dict[str, list[str]] = {}
    for name, setting, kind in (
        ("qwen", "qwen", "model"),
        ("adapter", "unison", "adapter"),
        ("planner_merged", "planner_merged", "model"),
    ):
        path = _path(settings, setting)
        paths[name] = None if path is None else str(path)
        missing[name] = ["not set"] if path is None else missing_files(path, kind)  # type: ignore[arg-type]
    proj = settings.projector_path()
    paths["projector"] = str(proj)
    missing["projector"] = [] if proj.is_file() else ["projector.pth"]
    present = {name: not m for name, m in missing.items()}
    if present["planner_merged"]:
        kind = "merged"
    elif present["qwen"] and present["adapter"]:
        kind = "adapter"
    elif present["qwen"]:
        kind = "base"
    else:
        kind = None
    return {
        **present,
        "unison": kind in ("merged", "adapter"),
        "planner": kind,
        "paths": paths,
        "missing": missing,
    }


# ----------------------------------------------------------------------------------------------------------
# building blocks (also used by the tiny-model kit)


def add_unison_tokens(tokenizer) -> list[int]:
    """Add the fourteen Unison tokens (special, in the published order) unless present; return their ids.

    Raises WeightsError when the ids are not consecutive in the published order (a tokenizer that got
    them some other way would feed the adapter the wrong embedding rows).
    """
    vocab = tokenizer.get_vocab()
    todo = [t for t in UNISON_TOKENS if t not in vocab]
    if todo and len(todo) != len(UNISON_TOKENS):
        raise WeightsError(
            f"the tokenizer has some Unison tokens but not {', '.join(todo)}; use the base Qwen tokenizer "
            "(all fourteen are added in order) or one that has all of them"
        )
    if todo:
        tokenizer.add_tokens(list(UNISON_TOKENS), special_tokens=True)
    ids = [int(i) for i in tokenizer.convert_tokens_to_ids(list(UNISON_TOKENS))]
    if ids != list(range(ids[0], ids[0] + len(ids))):
        raise WeightsError(f"the Unison tokens do not have consecutive ids in the published order: {ids}")
    return ids


def load_base_model(path: Path, *, device: torch.device, dtype: torch.dtype, attn: str):
    """``Qwen2_5_VLForConditionalGeneration.from_pretrained`` on ``device`` in ``dtype``, eval mode."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from unison_agent.core.progress import quiet_library_bars

    quiet_library_bars("transformers", "huggingface_hub")  # "Loading checkpoint shards": progress goes out as events
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(path), dtype=dtype, attn_implementation=attn)
    return model.to(device).eval()


def untie_embeddings(model) -> None:
    """Give ``lm_head`` its own copy of the input embedding and mark the config untied (root and text)."""
    import torch

    embed = model.get_input_embeddings()
    head = model.get_output_embeddings()
    if head.weight is embed.weight or head.weight.data_ptr() == embed.weight.data_ptr():
        head.weight = torch.nn.Parameter(embed.weight.detach().clone())
    for config in (model.config, getattr(model.config, "text_config", None)):
        if config is not None:
            config.tie_word_embeddings = False


def resize_embeddings(model, rows: int, *, shrink: bool = False) -> None:
    """Resize the (tied) embeddings to ``rows`` (only growing unless ``shrink``); new rows are the mean of the
    old ones (deterministic, never random)."""
    import torch

    old = model.get_input_embeddings().weight.shape[0]
    if rows == old or (rows < old and not shrink):
        return
    model.resize_token_embeddings(rows, mean_resizing=False)
    if rows < old:
        return
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[old:] = emb[:old].mean(dim=0, keepdim=True)
        head = model.get_output_embeddings()
        if head is not None and head.weight.data_ptr() != emb.data_ptr():
            head.weight[old:] = head.weight[:old].mean(dim=0, keepdim=True)


def prepare_for_adapter(model, tokenizer_len: int, adapter_rows: int | None = None) -> None:
    """Size the embeddings for the adapter, then untie.

    When the adapter saved full embedding / lm_head matrices, their row count wins (the training run may have
    padded the vocabulary differently); otherwise the embeddings grow to fit the tokenizer.
    """
    if adapter_rows is not None and adapter_rows >= tokenizer_len:
        resize_embeddings(model, adapter_rows, shrink=True)
    else:
        resize_embeddings(model, tokenizer_len)
    untie_embeddings(model)


def adapter_embedding_rows(adapter_dir: Path) -> int | None:
    """Rows of a full embedding / lm_head saved in the adapter (modules_to_save), if any."""
    file = adapter_dir / "adapter_model.safetensors"
    if not file.is_file():
        return None
    from safetensors import safe_open

    rows = None
    with safe_open(str(file), framework="pt") as f:
        for key in f.keys():
            if ("lm_head" in key or "embed_tokens" in key) and "modules_to_save" in key and key.endswith("weight"):
                shape = f.get_slice(key).get_shape()
                rows = max(rows or 0, int(shape[0]))
    return rows


def _load_processor(path: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(path))


# ----------------------------------------------------------------------------------------------------------
# the entry point


def load_planner(settings: Settings, mode: Mode = "auto", *, merge: bool = False) -> LoadedPlanner:
    """Load the planner once per process (cached in the model registry).

    ``auto``: the merged planner when ``planner_merged`` is set and present, else base + adapter when both
    are present, else the base model. ``merge`` merges the adapter in memory (adapter form only).
    Missing or incomplete directories raise WeightsError naming the expected files.
    """
    from unison_agent.models.registry import pick_attention, pick_device, pick_dtype
    from unison_agent.models.residency import residency_for

    if mode not in ("merged", "adapter", "base", "auto"):
        raise ValueError(f"mode must be merged, adapter, base or auto, got {mode!r}")
    if mode == "auto":
        kind = weights_status(settings)["planner"]
        if kind is None:
            base = _path(settings, "qwen")
            _require(base, "model", "the Qwen2.5-VL base model", "qwen")  # type: ignore[arg-type]
        mode = kind  # type: ignore[assignment]
    device = pick_device(settings)
    dtype = pick_dtype(settings, device)
    attn = pick_attention(settings, device)
    planner = _load_planner(settings, mode, merge, device, dtype, attn)
    residency = residency_for(settings, device)
    if residency is not None and not residency.knows("planner"):
        residency.add("planner", planner.model, where=str(device))
    return planner


def _load_planner(settings: Settings, mode: Mode, merge: bool, device, dtype, attn) -> LoadedPlanner:
    from unison_agent.models.registry import registry

    if mode == "merged":
        path = _path(settings, "planner_merged")
        if path is None:
            raise WeightsError("no merged planner is configured; set --planner-merged / UNISON_PLANNER_MERGED")
        _require(path, "model", "the merged planner", "planner_merged")
        key = ("planner", "merged", str(path), str(device), str(dtype), attn)
        label = "merged Unison planner (Qwen2.5-VL)"
        return registry().get(key, lambda: _load_merged(path, device, dtype, attn), label=label)
    base = _path(settings, "qwen")
    _require(base, "model", "the Qwen2.5-VL base model", "qwen")  # type: ignore[arg-type]
    if mode == "base":
        key = ("planner", "base", str(base), str(device), str(dtype), attn)
        return registry().get(key, lambda: _load_base(base, device, dtype, attn), label="Qwen2.5-VL")
    adapter = _path(settings, "unison")
    if adapter is None:
        raise WeightsError("no Unison adapter is configured; set --unison / UNISON_UNISON")
    _require(adapter, "adapter", "the Unison LoRA adapter", "unison")
    key = ("planner", "adapter", str(base), str(adapter), str(device), str(dtype), attn, merge)
    label = "Unison planner (Qwen2.5-VL + LoRA)"
    return registry().get(key, lambda: _load_adapter(base, adapter, device, dtype, attn, merge), label=label)


def _load_merged(path: Path, device, dtype, attn) -> LoadedPlanner:
    processor = _load_processor(path)
    add_unison_tokens(processor.tokenizer)
    model = load_base_model(path, device=device, dtype=dtype, attn=attn)
    if len(processor.tokenizer) > model.get_input_embeddings().weight.shape[0]:
        raise WeightsError(
            f"{path}: the tokenizer has {len(processor.tokenizer)} tokens but the model only "
            f"{model.get_input_embeddings().weight.shape[0]} embedding rows; is this really a merged Unison planner?"
        )
    return LoadedPlanner(model, processor, processor.tokenizer, device, dtype, "merged", str(path))


def _load_base(path: Path, device, dtype, attn) -> LoadedPlanner:
    processor = _load_processor(path)
    model = load_base_model(path, device=device, dtype=dtype, attn=attn)
    return LoadedPlanner(model, processor, processor.tokenizer, device, dtype, "base", str(path))


def _load_adapter(base: Path, adapter: Path, device, dtype, attn, merge: bool) -> LoadedPlanner:
    from peft import PeftModel

    processor = _load_processor(base)
    add_unison_tokens(processor.tokenizer)
    model = load_base_model(base, device=device, dtype=dtype, attn=attn)
    prepare_for_adapter(model, len(processor.tokenizer), adapter_embedding_rows(adapter))
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise WeightsError(f"the adapter at {adapter} does not fit the base model at {base}: {exc}") from None
    peft_model = peft_model.to(device).eval()
    model_out: Any = peft_model.merge_and_unload() if merge else peft_model
    if merge:
        untie_embeddings(model_out)
    return LoadedPlanner(model_out, processor, processor.tokenizer, device, dtype, "adapter", f"{base} + {adapter}")


def adapter_config(adapter: Path) -> dict[str, Any]:
    """The adapter's ``adapter_config.json`` as a dict."""
    return json.loads((adapter / "adapter_config.json").read_text())

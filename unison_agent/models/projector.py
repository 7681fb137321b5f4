"""The Unison projector: planner hidden states -> four conditioning tokens for Wan's text context.

Layout and math follow the released module exactly: ``ln_in`` -> ``net`` (Linear(d, hidden), GELU,
Dropout(0.1), Linear(hidden, out)) -> ``ln_out``; the sequence is zero-padded or cut to 56 positions and
``seq_adjust`` = Linear(56, 4) is applied over the sequence axis (on the transposed tensor, then transposed
back), giving (B, 4, out). The released ``projector.pth`` keys are ``ln_in``, ``net.0``, ``net.3``, ``ln_out``,
``seq_adjust`` (sometimes prefixed ``module.``); d = the planner's text hidden size (2048), out = 4096.

The input convention (``projector_tokens``): the planner's last hidden state over the chat-templated user
message (no generation prompt), first position dropped, in float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unison_agent.contract.errors import WeightsError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from unison_agent.contract.settings import Settings

REAL_HIDDEN = 2048
REAL_OUT = 4096
TARGET_SEQ_LEN = 56
NUM_TOKENS = 4
EXPECTED_KEYS = (
    "ln_in.weight",
    "ln_in.bias",
    "net.0.weight",
    "net.0.bias",
    "net.3.weight",
    "net.3.bias",
    "ln_out.weight",
    "ln_out.bias",
    "seq_adjust.weight",
    "seq_adjust.bias",
)


@lru_cache(maxsize=1)
def _module_class():
    import torch
    from torch import nn

    class ProjMLP(nn.Module):
        """LayerNorm(d) -> Linear(d, hidden) -> GELU -> Dropout -> Linear(hidden, out) -> LayerNorm(out);
        pad/cut the sequence to ``target_seq_len``; Linear(target_seq_len, 4) over the sequence axis."""

        def __init__(
            self,
            input_dim: int,
            t5_dim: int = REAL_OUT,
            hidden_dim: int = REAL_HIDDEN,
            out_dim: int | None = None,
            dropout: float = 0.1,
            target_seq_len: int = TARGET_SEQ_LEN,
            final_output_dim: int = NUM_TOKENS,
        ) -> None:
            super().__init__()
            self.input_dim = input_dim
            self.out_dim = out_dim or t5_dim
            self.target_seq_len = target_seq_len
            self.final_output_dim = final_output_dim
            self.net = nn.Sequential(
                nn.Linear(input_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, self.out_dim)
            )
            self.seq_adjust = nn.Linear(target_seq_len, final_output_dim)
            self.ln_in = nn.LayerNorm(input_dim)
            self.ln_out = nn.LayerNorm(self.out_dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """(B, L, input_dim) -> (B, final_output_dim, out_dim)."""
            if x.dim() != 3 or x.shape[-1] != self.input_dim:
                raise ValueError(f"projector input must be (B, L, {self.input_dim}), got {tuple(x.shape)}")
            batch, seq_len, _ = x.shape
            x = self.ln_out(self.net(self.ln_in(x)))
            if seq_len < self.target_seq_len:
                pad = torch.zeros(batch, self.target_seq_len - seq_len, self.out_dim, device=x.device, dtype=x.dtype)
                x = torch.cat([x, pad], dim=1)
            elif seq_len > self.target_seq_len:
                x = x[:, : self.target_seq_len, :]
            return self.seq_adjust(x.transpose(1, 2)).transpose(1, 2)

    return ProjMLP


def __getattr__(name: str) -> Any:
    # ``ProjMLP`` is built on first access so that importing this module does not import torch.
    if name == "ProjMLP":
        return _module_class()
    raise AttributeError(name)


def _clean_state_dict(state: Mapping[str, Any], source: str) -> dict[str, Any]:
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise WeightsError(f"{source}: expected a state dict (a mapping of tensor names), got {type(state).__name__}")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def load_projector(path_or_state_dict: str | Path | Mapping[str, Any], input_dim: int = REAL_HIDDEN):
    """Build a ProjMLP from ``projector.pth`` (or a state dict) and load it strictly; eval mode, float32.

    Hidden and output widths and the sequence sizes are read from the weights (the released file gives
    2048 -> 2048 -> 4096, 56 -> 4). Missing, unexpected or mis-shaped keys raise WeightsError naming them.
    """
    import torch

    if isinstance(path_or_state_dict, Mapping):
        source = "projector state dict"
        raw = path_or_state_dict
    else:
        path = Path(path_or_state_dict).expanduser()
        source = str(path)
        if not path.is_file():
            raise WeightsError(
                f"projector weights not found: {path} (expected the file projector.pth from ali-vilab/Unison)"
            )
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a weights problem
            raise WeightsError(f"{path}: cannot be read as a PyTorch state dict ({exc})") from None
    state = _clean_state_dict(raw, source)
    missing = [k for k in EXPECTED_KEYS if k not in state]
    unexpected = [k for k in state if k not in EXPECTED_KEYS]
    if missing or unexpected:
        raise WeightsError(
            f"{source}: not a Unison projector; missing keys {missing or 'none'}, unexpected keys {unexpected or 'none'} "
            f"(expected {', '.join(EXPECTED_KEYS)}, optionally prefixed 'module.')"
        )
    hidden, in_dim = state["net.0.weight"].shape
    out_dim = state["net.3.weight"].shape[0]
    final, target = state["seq_adjust.weight"].shape
    if in_dim != input_dim:
        raise WeightsError(
            f"{source}: the projector takes hidden states of width {in_dim}, but the planner's text hidden size is "
            f"{input_dim}; use the projector made for this planner"
        )
    proj = _module_class()(
        input_dim=input_dim,
        hidden_dim=int(hidden),
        out_dim=int(out_dim),
        target_seq_len=int(target),
        final_output_dim=int(final),
    )
    try:
        proj.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{source}: shapes do not fit the projector layout: {exc}") from None
    return proj.float().eval()


def projector_tokens(settings: Settings, prompt: str) -> torch.Tensor | None:
    """The four conditioning tokens (1, 4, out) for a planning prompt (pads in place of paths), or None.

    None when no projector weights exist, so generation can run from the text alone. The planner is the one
    ``load_planner(settings)`` picks (merged, else base + adapter, else base), loaded once per process.
    """
    import torch

    from unison_agent.models.qwen_loader import load_planner
    from unison_agent.models.registry import registry

    path = settings.projector_path()
    if not path.is_file():
        return None
    planner = load_planner(settings)
    input_dim = planner.text_hidden_size
    proj = registry().get(
        ("projector", str(path), input_dim, str(planner.device)),
        lambda: load_projector(path, input_dim).to(planner.device),
        label="Unison projector",
    )
    from unison_agent.models.residency import residency_for, resident

    with resident(residency_for(settings, planner.device), "planner"):  # on the GPU while it encodes
        hidden = planner_hidden_states(planner, prompt, settings.max_input_tokens)
    with torch.no_grad():
        return proj(hidden.float())


def planner_hidden_states(planner, prompt: str, max_tokens: int | None = None) -> torch.Tensor:
    """Last hidden state (1, L-1, d) over the chat-templated user message, no generation prompt, first position dropped.
    A message over ``max_tokens`` is refused before the model runs."""
    import torch

    from unison_agent.contract.tokens import check_input_tokens

    messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    inputs = planner.processor.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=False, return_tensors="pt", return_dict=True
    )
    if max_tokens is not None:
        check_input_tokens(int(inputs["input_ids"].shape[1]), max_tokens, "conditioning")
    input_ids = inputs["input_ids"].to(planner.device)
    with torch.no_grad():
        out = planner.backbone().model(input_ids=input_ids)
    return out.last_hidden_state[:, 1:, :]

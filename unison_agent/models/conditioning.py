"""The method's text conditioning for Wan2.1-VACE: umT5 prompt encoding + the four projector tokens, padded to 2048.

Unison appends the projector's 4 tokens right after the umT5 encoding of the prompt (trimmed to its real
length) and zero-pads the context to 2048 positions; the negative prompt (Wan's default unless given) is
encoded and padded the same way. Cross-attention in Wan is unmasked, so the padding length matters.

umT5 reads at most :data:`TEXT_LEN` (512) tokens of a prompt, as Wan's text encoder does (its ``text_len``): the
reference raises only the transformer's context length to 2048, not the encoder's, so a longer prompt is cut at
512 tokens and the projector rows follow right after them (:func:`prompt_was_cut` tells when).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unison_agent.contract.errors import UnisonError

if TYPE_CHECKING:  # pragma: no cover
    import torch

CONTEXT_LEN = 2048
"""Context positions the reference pads both the conditional and the unconditional context to."""
TEXT_LEN = 512
"""umT5 tokens Wan's text encoder reads of a prompt (``text_len`` in Wan2.1's shared config); the rest is cut."""


def wan_negative_prompt() -> str:
    """Wan's default negative prompt (``sample_neg_prompt`` in Wan's shared config)."""
    from unison_agent.prompts import read_prompt

    return read_prompt("wan_negative.txt").strip()


def encode_text(pipe, prompt: str, max_len: int = TEXT_LEN) -> torch.Tensor:
    """umT5 last hidden state of ``prompt`` (its first ``max_len`` tokens) trimmed to its real token count:
    (1, n, text_dim) in float32, n <= ``max_len``.

    Encoded without padding: umT5 masks padded positions, so the real positions come out the same as with
    diffusers' pad-to-max-length-then-trim, at a fraction of the cost for a 2048-position budget.
    """
    import torch
    from diffusers.pipelines.wan.pipeline_wan_vace import prompt_clean
    from diffusers.utils.torch_utils import get_module_execution_device

    inputs = pipe.tokenizer(
        [prompt_clean(prompt)],
        padding=False,
        max_length=max_len,
        truncation=True,
        add_special_tokens=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    ids, mask = inputs.input_ids, inputs.attention_mask
    n = int(mask.gt(0).sum())
    device = get_module_execution_device(pipe.text_encoder)
    with torch.no_grad():
        hidden = pipe.text_encoder(ids.to(device), mask.to(device)).last_hidden_state
    return hidden[:, :n].float()


def _pad(rows: torch.Tensor, max_len: int) -> torch.Tensor:
    import torch

    n = rows.shape[1]
    if n > max_len:
        rows = rows[:, :max_len]
        n = max_len
    return torch.cat([rows, rows.new_zeros(rows.shape[0], max_len - n, rows.shape[2])], dim=1)


def _as_rows(cond_tokens: torch.Tensor, text_dim: int) -> torch.Tensor:
    """Projector output as (1, k, text_dim); a clear error for any other shape or width."""
    t = cond_tokens
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] != 1:
        raise UnisonError(
            f"projector tokens must have shape (1, 4, {text_dim}) or (4, {text_dim}), got {tuple(cond_tokens.shape)}"
        )
    if t.shape[2] != text_dim:
        raise UnisonError(
            f"projector tokens are {t.shape[2]} wide but this Wan2.1-VACE text encoder is {text_dim} wide; "
            "the projector and the VACE checkpoint do not belong together (check --projector and --vace)"
        )
    return t.float()


def build_prompt_embeds(
    pipe, prompt: str, cond_tokens: torch.Tensor | None, max_len: int = CONTEXT_LEN, text_len: int = TEXT_LEN
) -> torch.Tensor:
    """(1, max_len, text_dim): umT5(prompt) trimmed to its real length (at most ``text_len`` tokens), then
    ``cond_tokens`` rows, then zeros.

    ``cond_tokens`` is the projector output (1, 4, text_dim) or (4, text_dim); ``None`` gives the text encoding
    alone (what Wan does without a stage-one projector). The result is on the text encoder's device, in the
    transformer's dtype.
    """
    text_dim = int(pipe.text_encoder.config.d_model)
    extra = 0 if cond_tokens is None else _as_rows(cond_tokens, text_dim).shape[1]
    text = encode_text(pipe, prompt, max_len=min(text_len, max_len - extra))
    if cond_tokens is not None:
        rows = _as_rows(cond_tokens, text_dim).to(text.device)
        text = torch_cat(text, rows)
    return _pad(text, max_len).to(_transformer_dtype(pipe))


def build_negative_embeds(
    pipe, negative_prompt: str | None = None, max_len: int = CONTEXT_LEN, text_len: int = TEXT_LEN
) -> torch.Tensor:
    """(1, max_len, text_dim): the negative prompt (Wan's default when ``None``; at most ``text_len`` tokens)
    encoded and zero-padded."""
    negative = wan_negative_prompt() if negative_prompt is None else negative_prompt
    text = encode_text(pipe, negative, max_len=min(text_len, max_len))
    return _pad(text, max_len).to(_transformer_dtype(pipe))


def prompt_token_count(pipe, prompt: str, max_len: int | None = TEXT_LEN) -> int:
    """How many umT5 positions the prompt takes (where the projector rows start); ``None``: uncut."""
    from diffusers.pipelines.wan.pipeline_wan_vace import prompt_clean

    cut = {"max_length": max_len, "truncation": True} if max_len is not None else {}
    ids = pipe.tokenizer([prompt_clean(prompt)], add_special_tokens=True, **cut)
    return len(ids["input_ids"][0])


def prompt_was_cut(pipe, prompt: str, text_len: int = TEXT_LEN) -> str | None:
    """A note when umT5 reads only the first ``text_len`` tokens of ``prompt``, else None."""
    n = prompt_token_count(pipe, prompt, None)
    if n <= text_len:
        return None
    return (
        f"the prompt is {n} umT5 tokens; Wan's text encoder reads the first {text_len} (its text_len), as the "
        f"method was trained, so the last {n - text_len} were cut: put what matters first or say it shorter"
    )


def torch_cat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.cat([a, b.to(a.dtype)], dim=1)


def _transformer_dtype(pipe) -> torch.dtype:
    import torch

    model = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
    return model.dtype if model is not None else torch.float32

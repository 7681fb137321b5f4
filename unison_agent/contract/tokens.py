"""The Unison tokens and how user text is kept from forging them (one module: the codec, the mention parser,
the loaders and the understanding tool all read it).

The fourteen tokens are added to the planner's tokenizer in this order; the order fixes their ids, and so the
embedding rows the planning LoRA was trained with.
"""

from __future__ import annotations

import re

UNISON_TOKENS: tuple[str, ...] = (
    "<CFI>",
    "<CFV>",
    "<BORES>",
    "<EORES>",
    "<BONF>",
    "<EONF>",
    "<BOFIDX>",
    "<EOFIDX>",
    "<REF>",
    "<CTRL>",
    "<BOEDIT>",
    "<EOEDIT>",
    "<IMGPAD>",
    "<VIDPAD>",
)
CFI, CFV, BORES, EORES, BONF, EONF, BOFIDX, EOFIDX, REF, CTRL, BOEDIT, EOEDIT, IMGPAD, VIDPAD = UNISON_TOKENS

PADS: tuple[str, ...] = (IMGPAD, VIDPAD)
CONTROL_TOKENS: tuple[str, ...] = tuple(t for t in UNISON_TOKENS if t not in PADS)
"""The tokens that make a plan (everything but the two pads)."""
END_MARKERS: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")

TOKEN_RE = re.compile("|".join(re.escape(t) for t in UNISON_TOKENS))
_QWEN_SPECIAL_RE = re.compile(r"<\|[A-Za-z0-9_]+\|>")


def check_input_tokens(n: int, limit: int, what: str) -> None:
    """Refuse a model input of ``n`` tokens over ``limit`` (the setting ``max_input_tokens``) before it runs: no
    face can start unbounded work. A :class:`~unison_agent.contract.errors.UnisonError` saying what to do."""
    if n > limit:
        from unison_agent.contract.errors import UnisonError

        raise UnisonError(
            f"{what}: the input has {n:,} tokens, over the limit of {limit:,}; shorten the request (or start a new "
            "thread), or raise the setting max_input_tokens (env UNISON_MAX_INPUT_TOKENS)"
        )


PAD_RE = re.compile(f"{re.escape(IMGPAD)}|{re.escape(VIDPAD)}")


def neutralize(text: str, *, keep_pads: bool = False) -> str:
    """Make user-typed text safe for a planner: any Unison or chat-template token loses its angle bracket.

    ``"<CFV>"`` becomes ``"‹CFV>"``: it reads the same to a person but is ordinary text to every tokenizer,
    so a user cannot inject control tokens. With ``keep_pads``, a typed ``<IMGPAD>`` / ``<VIDPAD>`` stays a pad:
    the reference's own prompts type one for a file that is not attached ("Here is the mask <VIDPAD>."), and the
    planning LoRA was trained on that marker.
    """

    def soften(m: re.Match[str]) -> str:
        tok = m.group(0)
        return tok if keep_pads and tok in PADS else "\u2039" + tok[1:]

    text = TOKEN_RE.sub(soften, text)
    return _QWEN_SPECIAL_RE.sub(lambda m: "\u2039" + m.group(0)[1:], text)

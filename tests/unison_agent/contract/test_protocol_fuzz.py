"""The token codec, fuzzed: 10^5 planner outputs — valid plans, truncated, shuffled, with unknown tokens, huge
numbers and random soup — go into ``decode``; it returns a Plan or raises ``ProtocolError`` (carrying the raw
text), never anything else. Marked ``fuzz`` (runs with plain ``pytest``; ``-m "not fuzz"`` skips it locally).

A seeded ``random.Random`` generates the cases (hypothesis is too slow per example for 10^5 of them); a failure
prints the case's seed and text, and ``case(kind, seed)`` rebuilds it.
"""

from __future__ import annotations

import random

import pytest

from unison_agent.contract.errors import ProtocolError
from unison_agent.contract.mentions import find_mentions
from unison_agent.contract.plan import MAX_FRAMES, MAX_SIDE, MIN_SIDE, Plan
from unison_agent.contract.protocol import decode, encode
from unison_agent.contract.tokens import (
    BOEDIT,
    BOFIDX,
    BONF,
    BORES,
    CFI,
    CFV,
    CTRL,
    EOEDIT,
    EOFIDX,
    EONF,
    EORES,
    IMGPAD,
    REF,
    UNISON_TOKENS,
    VIDPAD,
)

CASES_PER_KIND = 20_000
KINDS = ("valid", "truncated", "shuffled", "unknown", "soup")
assert CASES_PER_KIND * len(KINDS) >= 10**5

PROMPTS = [
    "a cat on a sofa",
    "animate ###a.png###",
    "edit ###a.png### with ###m.png###",
    "use ###m.png### on ###v.mp4###",
    "this dog ###a.png### and ###b.png### surfing",
    "follow ###p.mp4### and ###q.png###",
    "make ###v.mp4### brighter, the mask is <VIDPAD>",
    "what is in ###a.png### and ###v.mp4###?",
]
MENTIONS = {p: find_mentions(p, check=False) for p in PROMPTS}
UNKNOWN = [
    "<FOO>",
    "<CF>",
    "<CFIV>",
    "<BORES",
    "EORES>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<>",
    "<bores>",
    "<EOEDIT >",
    "</CFI>",
    "<<CFI>>",
    "\x00",
    "\u2039CFV>",
    "#",
    "###",
    "@",
    "\n",
    "\t",
]
NUMBERS = [
    "0",
    "1",
    "-1",
    "16",
    "480",
    "832",
    "1280",
    "81",
    "-0",
    "+5",
    " 7 ",
    "1e3",
    "3.5",
    "0x10",
    "٣",
    "9" * 40,
    "9" * 400,
    "9" * 5000,
    "-" + "9" * 5000,
    "",
    " ",
    ",",
    "x",
    "×",
]


def number(rng: random.Random) -> str:
    return rng.choice(NUMBERS) if rng.random() < 0.3 else str(rng.randint(-100, 5000))


def valid(rng: random.Random) -> str:
    """A plan the grammar allows (values may still be out of range, e.g. a size of 5000)."""
    family = rng.choice((CFI, CFV))
    parts = [family]
    if rng.random() < 0.7:
        parts.append(f"{BORES}{number(rng)}{rng.choice((',', 'x', '×', ' , '))}{number(rng)}{EORES}")
    if family == CFV and rng.random() < 0.7:
        parts.append(f"{BONF}{number(rng)}{EONF}")
    marker = rng.choice((None, BOFIDX, BOEDIT, REF, CTRL))
    if marker == BOFIDX and family == CFV:
        parts.append(f"{BOFIDX}{rng.choice(('0', 'first', 'last', 'lastframe', number(rng)))}{EOFIDX}")
    elif marker == BOEDIT:
        value = rng.choice(("", number(rng), f"{number(rng)},{number(rng)}"))
        parts.append(f"{BOEDIT}{value}{EOEDIT}")
    elif marker in (REF, CTRL):
        parts.append(marker)
    if rng.random() < 0.2:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice((IMGPAD, VIDPAD)))
    text = "".join(parts)
    return text + rng.choice(("", "", "<|im_end|>", " ", "\n"))


def segments(text: str) -> list[str]:
    """Tokens and the text between them."""
    out, pos = [], 0
    while pos < len(text):
        starts = [(text.find(t, pos), t) for t in UNISON_TOKENS if text.find(t, pos) >= 0]
        if not starts:
            out.append(text[pos:])
            break
        at, tok = min(starts)
        if at > pos:
            out.append(text[pos:at])
        out.append(tok)
        pos = at + len(tok)
    return out


def case(kind: str, seed: int) -> tuple[str, str]:
    """(planner text, prompt) of one fuzz case."""
    rng = random.Random(f"{kind}:{seed}")
    prompt = rng.choice(PROMPTS)
    if kind == "valid":
        text = valid(rng)
    elif kind == "truncated":
        text = valid(rng)
        text = text[: rng.randrange(len(text) + 1)]
    elif kind == "shuffled":
        parts = segments(valid(rng) + valid(rng) * (rng.random() < 0.2))
        rng.shuffle(parts)
        text = "".join(parts)
    elif kind == "unknown":
        parts = segments(valid(rng))
        for _ in range(rng.randint(1, 3)):
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(UNKNOWN + NUMBERS))
        text = "".join(parts)
    else:
        alphabet = [*UNISON_TOKENS, *UNKNOWN, *NUMBERS[:10], "a cat", " ", ",", "first", "last"]
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
    return text, prompt


def check(text: str, prompt: str) -> Plan | None:
    try:
        plan = decode(text, prompt, mentions=MENTIONS[prompt])
    except ProtocolError as exc:
        assert exc.raw == text
        return None
    assert isinstance(plan, Plan)
    if plan.task.is_generation:
        assert MIN_SIDE <= plan.width <= MAX_SIDE and MIN_SIDE <= plan.height <= MAX_SIDE
        assert plan.num_frames == 1 or (plan.num_frames % 4 == 1 and plan.num_frames <= MAX_FRAMES)
        assert decode(encode(plan), prompt, mentions=MENTIONS[prompt]).task is plan.task
    return plan


@pytest.mark.fuzz
@pytest.mark.parametrize("kind", KINDS)
def test_decode_raises_only_protocol_errors(kind):
    decoded = 0
    for seed in range(CASES_PER_KIND):
        text, prompt = case(kind, seed)
        try:
            decoded += check(text, prompt) is not None
        except Exception as exc:
            raise AssertionError(f"case({kind!r}, {seed}): decode({text[:200]!r}, {prompt!r}) raised {exc!r}") from exc
    if kind == "valid":  # the generator is not just producing errors
        assert decoded > CASES_PER_KIND // 4


@pytest.mark.parametrize(
    "text",
    [
        "<CFI><BORES>" + "9" * 400 + ",480<EORES>",  # float() in size snapping would overflow
        "<CFV><BONF>" + "9" * 5000 + "<EONF>",  # int() refuses more than 4300 digits
        "<CFV><BOFIDX>-" + "9" * 20 + "<EOFIDX>",
        "<CFI><BOEDIT>0," + "1" * 20 + "<EOEDIT>",
    ],
)
def test_huge_numbers_are_protocol_errors(text):
    with pytest.raises(ProtocolError, match="more than 9 digits") as info:
        decode(text, "edit ###a.png### with ###m.png###, animate ###b.png###")
    assert info.value.raw == text

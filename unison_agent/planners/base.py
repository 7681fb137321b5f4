"""What every planner backend receives and returns: the one planner contract, ``Planner.plan(request) -> Plan``.

The graph, ``Session.plan`` and ``unison eval`` get a backend from ``Toolbox.planner(settings)`` and call it with a
:class:`Request`, whose explicit values (size, duration, frame anchor, control kind, target, which file is the
mask) were read once when it was parsed (``request.explicit``)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from unison_agent.contract.mentions import Mention, find_mentions, planning_prompt, strip_mentions
from unison_agent.contract.plan import Plan
from unison_agent.media.files import MediaLimits
from unison_agent.planners.extract import Explicit, read_explicit


@dataclass(frozen=True)
class Request:
    """A user's request: the text as typed (with ``###path###``/``@path`` mentions), the checked mentions, and the
    values the user stated explicitly (read once, when the request is made)."""

    text: str
    mentions: list[Mention] = field(default_factory=list)
    explicit: Explicit = field(default=None, compare=False)  # type: ignore[assignment]
    """Size, frames, frame anchor, control kind, target, mask index the words state (None = not said)."""

    def __post_init__(self) -> None:
        if self.explicit is None:
            object.__setattr__(self, "explicit", read_explicit(self.text, self.words, self.mentions))

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        check: bool = True,
        base_dir: str | Path | None = None,
        virtual: Collection[str] = (),
        limits: MediaLimits | None = None,
    ) -> Request:
        """Find and (with ``check``) verify the mentioned files (``virtual`` ones are not opened) within ``limits``;
        MediaError names a bad path, or the limit a file is over and the setting that raises it."""
        mentions = find_mentions(text, check=check, base_dir=base_dir, virtual=virtual, limits=limits)
        return cls(text=text, mentions=mentions)

    @property
    def prompt(self) -> str:
        """The planner's view: user tokens neutralised, mentions replaced by <IMGPAD>/<VIDPAD>."""
        return planning_prompt(self.text, self.mentions)

    @property
    def words(self) -> str:
        """The user's words without the mentions."""
        return strip_mentions(self.text, self.mentions)


class Planner(Protocol):
    """A planner backend: ``plan(request) -> Plan`` (always a valid plan, or a UnisonError). The one planner
    contract: the backends (``planners.PLANNERS``), what ``Toolbox.planner(settings)`` returns, what
    :func:`unison_agent.core.prepare.plan_step` calls."""

    name: str

    def plan(self, request: Request) -> Plan: ...

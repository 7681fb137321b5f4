"""What every planner backend receives and returns."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..media import MediaLimits
from ..mentions import Mention, find_mentions, planning_prompt, strip_mentions
from ..plan import Plan


@dataclass(frozen=True)
class Request:
    """A user's request: the text as typed (with ``###path###``/``@path`` mentions) and the checked mentions."""

    text: str
    mentions: list[Mention] = field(default_factory=list)

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
    """A planner backend: ``plan(request) -> Plan`` (always a valid plan, or a UnisonError)."""

    name: str

    def plan(self, request: Request) -> Plan: ...

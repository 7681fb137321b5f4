#!/usr/bin/env python
"""unison-agent command line: `python cli.py COMMAND ...` (the same as the installed `unison` command)."""

from unison_agent.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

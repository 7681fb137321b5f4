"""The browser UI (``unison web``): a Gradio app over the same Session core as the chat CLI.

:mod:`.backend` holds what does not need Gradio (sessions per thread, uploads, the file boundary, turns as event
streams, the chat view of a thread); :mod:`.app` builds the Gradio Blocks over it.
"""

from unison_agent.web.backend import Item, Update, WebChat

__all__ = ["Item", "Update", "WebChat"]

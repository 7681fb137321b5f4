"""The LangGraph state machine: intake splits a turn into steps; each step is prepared (resolved and planned), then
typed routers send it through annotate / confirm / generate (+ verify) or understand, and back for the next step."""

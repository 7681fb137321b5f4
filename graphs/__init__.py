"""The LangGraph state machine: planner node routes to tool nodes and loops for multi-step requests."""

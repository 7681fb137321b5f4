"""Serving faces over Session: the LangChain tool, MCP, the LangGraph server factory, Ray batches."""

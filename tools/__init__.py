"""Tools: one per file (understanding, annotators, generation). Nothing loads a model at import."""

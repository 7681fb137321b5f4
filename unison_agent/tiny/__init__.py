"""Tiny randomly initialised models of the real architectures, written in the published layouts."""

"""The models: the process-wide registry (device, dtype, attention), the planner and VACE loaders, the projector, conditioning, the stage-two pipeline and its inputs, residency, weights."""

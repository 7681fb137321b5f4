"""Training the planning LoRA (:mod:`.planner`) and the projector (:mod:`.projector`) from the user's own data
(:mod:`.data`) and corrections."""

"""The contract every part reads: the plan, settings, errors, the Unison tokens and their codec, file mentions."""

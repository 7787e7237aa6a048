"""Swap quality: metrics the field reports (identity, pose, expression, sharpness, flicker, follow) and
the baselines they are read against (do nothing, a constant mean-of-B face, B's nearest face)."""

"""Measuring swap quality: baselines rendered through the real render path (:mod:`.baselines`)."""

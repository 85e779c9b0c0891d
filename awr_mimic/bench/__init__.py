"""Benchmarks: `awr-mimic bench env|learn|sample`. Each reports ratios measured in one run."""

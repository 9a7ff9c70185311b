"""Benchmarks of cogpe against diffusers and the memory floor; run ``python -m benchmarks.run`` (``make bench``).

Every figure is a ratio of two timings taken side by side in one run (median over rounds), so that a
noisy machine moves both alike. :mod:`benchmarks.cases` says what is measured, :mod:`benchmarks.run`
measures it, prints the table and writes ``cogpe/results/benchmarks/<device>-<date>.json``.
"""

"""wimcore benchmark suite: the compression/export hot path against wimlib-imagex.

Run ``python -m benchmarks run [--quick] [--out DIR] [--size-mb N] [--runs N]``.
The package is kept import-light on purpose: child processes start from
``benchmarks.child`` and must not pay for the orchestrator's modules.
"""

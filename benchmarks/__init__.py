"""docflow benchmarks: `make bench` (python -m benchmarks) -> benchmarks/RESULTS.md."""

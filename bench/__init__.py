"""distserver's benchmarks: `python -m bench --help` lists them (docs/benchmarks.md)."""

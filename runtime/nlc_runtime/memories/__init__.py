"""The in-context memories: chunk-parallel kernels beside their per-token references."""

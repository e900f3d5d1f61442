"""nlc_runtime: the torch library that code emitted by nlc imports."""

"""The layers that are not memories: attention with its cache, norms, RoPE, conv, MLPs."""

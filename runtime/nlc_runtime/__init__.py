"""nlc_runtime: the torch library that code emitted by nlc imports.

Five wings, each importing only the ones listed before it (tests/shipping/test_imports.py):

- `exec`: how a model runs: the clock (`exec.clock`: segments and due updates), the streaming
  module protocol and the stream helpers (`exec.stream`), the wavefront, the LM signal,
  recomputation, compilation and the chunk-kernel registry, sampling;
- `memories`: the maths of the in-context memories (Titans LMM, self-modifying Titans, CMS,
  delta / linear-attention, frozen memories), chunk-parallel beside per-token references;
- `layers`: the layers that are not memories (attention and its cache, norms, RoPE, conv, MLPs);
- `optim`: the outer optimizers as associative memories and the learning-rate schedule;
- `training`: what a training script needs around the model: data, tokenizers, streams,
  task examples, checkpoints, command-line flags, metrics, distributed helpers.

`errors` and `testing` sit beside them (a data error; parity-test helpers).
"""

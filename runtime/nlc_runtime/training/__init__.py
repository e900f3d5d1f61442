"""Around the model in a training script: data, tokenizers, checkpoints, flags, metrics."""

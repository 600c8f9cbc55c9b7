"""Band style: accompaniment patterns from the shared data, the pattern VAE and its training."""

"""Sideman's models: chorale data pipeline, the step-wise network, training, evaluation (PyTorch)."""

"""torch -> ONNX export of Sideman networks as single-step graphs with explicit state."""

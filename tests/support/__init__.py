"""What the tests and benchmarks run on: the ComfyUI server harness, tiny and full-size random models, local hubs, probes and measures."""

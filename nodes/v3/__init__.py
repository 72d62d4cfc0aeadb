"""The V3 node classes and the ComfyExtension ComfyUI registers: thin wrappers over the packages beside them."""

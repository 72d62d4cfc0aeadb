"""Models and the process: the model cache, ComfyUI's memory manager, downloads, Cancel, ComfyUI's folders."""

"""ToonGen's code, one package per concern: `audio` (the AUDIO value, DSP, mixing, loudness, frames), `speech` (the
engines, the text-to-speech pipeline, scripts and dialogues), `voices` (the voice styles and their offline
renditions), `mouth` (speech to AdvancedLivePortrait mouth motion), `captions` (subtitle cues from the voice's
timing: SRT/VTT, burned onto frames), `library` (the shipped assets and scenarios), `runtime` (model cache, memory,
downloads, Cancel, ComfyUI's folders) and `v3` (the node classes ComfyUI registers). Only `v3` and
`runtime.comfy_paths`/`runtime.residency` import ComfyUI; `web/` holds the node help pages the frontend shows."""

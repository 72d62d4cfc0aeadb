"""Text to speech: the engines (F5-TTS, Kokoro, hibari, Piper), choosing one, chunking, the disk cache, timing."""

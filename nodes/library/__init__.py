"""The shipped asset library: music, effects and scenarios, and safe name-to-file resolution."""

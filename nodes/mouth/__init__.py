"""Speech to mouth motion for AdvancedLivePortrait: phoneme alignment, the shape table, the command, the dope sheet."""

"""The voice styles: the reference library, the offline recipes, their sound shaping and the offline speech that plays them."""

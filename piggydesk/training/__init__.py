"""Training and evaluation recipes for the instant and piggyback engines."""

"""Decoders, encoders and discriminators of the recipes."""

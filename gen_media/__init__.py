"""gen_media: generative audio and video decoders on Numba-accelerated transposed convolutions."""

__version__ = "0.1.0"

"""vertexfinder: an on-the-fly, recurrent, multi-resolution vertex finder for LArTPCs."""

__version__ = "0.1.0"

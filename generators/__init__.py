"""On-the-fly multi-resolution glimpse and batch generation (NumPy + Numba)."""

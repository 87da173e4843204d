"""ADC <-> byte encoding of plane images.

Images are stored at one byte per pixel (``uint8``)::

    byte = clip(round(adc), 0, 255)

so byte 0 is "no charge" (pedestal or below), which is also the value of
pixels outside the image. Deconvolved wire signals are unipolar, so nothing
of use lives below the pedestal.

The historical ROOT dumps hold signed ``TH2C`` bins with ADC -5..250 mapped
linearly onto -128..127, that is ``signed = adc - 123``. Reading them::

    byte = clip(signed + 123, 0, 255)        # ADC -5..-1 -> 0
    signed = clip(byte - 123, -128, 127)     # writing; ADC 251..255 saturate at 250

Round trip: bytes 0..250 survive ``byte -> signed -> byte`` exactly; 251..255
come back as 250 (the dump format's own saturation).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ADC_MAX", "TH2C_ADC_OFFSET", "adc_to_bytes", "bytes_to_adc", "bytes_to_th2c", "th2c_to_bytes"]

ADC_MAX = 255
#: ADC value of signed TH2C bin content 0 in the historical dumps.
TH2C_ADC_OFFSET = 123


def adc_to_bytes(adc: np.ndarray) -> np.ndarray:
    """Encode ADC values (any real dtype) as uint8, rounding and saturating."""
    adc = np.asarray(adc)
    if adc.dtype == np.uint8:
        return adc.copy()
    return np.clip(np.rint(adc), 0, ADC_MAX).astype(np.uint8)


def bytes_to_adc(pixels: np.ndarray) -> np.ndarray:
    """Decode uint8 pixels to float32 ADC."""
    return np.asarray(pixels, dtype=np.float32)


def th2c_to_bytes(signed: np.ndarray) -> np.ndarray:
    """Map signed TH2C bin contents (-128..127) of a historical dump to bytes."""
    signed = np.asarray(signed)
    return np.clip(signed.astype(np.int16) + TH2C_ADC_OFFSET, 0, ADC_MAX).astype(np.uint8)


def bytes_to_th2c(pixels: np.ndarray) -> np.ndarray:
    """Map bytes to signed TH2C bin contents (ADC - 123, saturating at 127)."""
    pixels = np.asarray(pixels)
    return np.clip(pixels.astype(np.int16) - TH2C_ADC_OFFSET, -128, 127).astype(np.int8)

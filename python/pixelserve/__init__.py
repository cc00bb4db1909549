"""pixelserve: run trained ilastik projects outside ilastik's GUI."""

__version__ = "0.1.0"

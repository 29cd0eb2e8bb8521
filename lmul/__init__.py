"""L-Mul in hardware: formats, golden models (``lmul.sim``), RTL (``lmul.rtl``), reports."""

__version__ = "0.1.0"

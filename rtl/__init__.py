"""Amaranth 0.5 designs (installed as ``lmul.rtl``)."""

"""Bit-exact numpy golden models and cocotb testbenches (installed as ``lmul.sim``)."""

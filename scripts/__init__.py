"""Synthesis and report scripts (installed as ``lmul.scripts``)."""

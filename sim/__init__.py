"""Bit-exact numpy golden models (installed as ``lmul.sim``): one twin per RTL block, same file name.

The public entry points: ``fp_multiply``, ``fp_product`` (``fp_multiplier``), ``lmul``, ``lmul_product``
(``lmul_pe``), ``dot`` (``mac_pe``), ``matmul`` (``systolic_array``), the accumulators ``kulisch``.
"""

"""Bit-exact numpy golden models (installed as ``lmul.sim``): one twin per RTL block, same file name.

The public entry points, importable from here: ``fp_multiply``, ``fp_product`` (``fp_multiplier``),
``lmul``, ``lmul_product`` (``lmul_pe``), ``dot`` (``mac_pe``), ``matmul`` (``systolic_array``); the
accumulators live in ``kulisch`` and ``fp_accumulator``. Each takes its formats as ``FloatFormat``
objects or ``get_format`` specs (``"e4m3"``, ``"e5m2:ftz"``) and works on bit patterns
(``lmul.encode`` / ``lmul.decode`` convert from / to float64)::

    from lmul import decode, encode
    from lmul.sim import lmul
    x, y = encode("e4m3", [1.5, -3.0]), encode("e4m3", [2.0, 0.75])
    decode("e4m3", lmul("e4m3", x, y))          # array([ 3.25, -2.25])
"""

from lmul.sim.fp_multiplier import fp_multiply, fp_product
from lmul.sim.lmul_pe import lmul, lmul_product
from lmul.sim.mac_pe import dot
from lmul.sim.systolic_array import matmul

__all__ = ["dot", "fp_multiply", "fp_product", "lmul", "lmul_product", "matmul"]

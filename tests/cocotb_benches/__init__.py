"""cocotb benches (run inside the simulator by ``lmul.scripts.cocotb_runner.CocotbBench``) and
their helpers. Imported as ``cocotb_benches.<module>`` with ``tests/`` on the simulator's Python
path (``CocotbBench.run(..., python_path=[tests_dir])``); not a pytest test folder.

The package is not named ``cocotb``: with ``tests/`` on ``sys.path`` that would shadow the real
``cocotb`` package.
"""

"""The board feature (installed as ``lmul.boards``): a matmul accelerator on an FPGA board, the
host that talks to it, and its golden and simulated twins, side by side.

Data path::

    host: LMulDevice (host.py) --frames--> SerialTransport --UART 8N1--> board pin rx
      -> UARTRx (lmul.rtl.uart) -> HostLink (host_link.py): CRC checks, validation, store and
         forward -> MatmulEngine (lmul.rtl.matmul_engine): C = A @ B on the systolic array
      -> HostLink: result memory, reply frames -> UARTTx -> pin tx --> host: checks every tile
         against the golden model

Files:

* ``protocol.py`` — the neutral contract both sides import: frame codec, command and error
  codes, CRC-16 (``amaranth.lib.crc``), element packing, ``LinkConfig`` (what a board is built
  for: format, product kind and accumulator from the ``lmul.arith`` registries, array size,
  limits), ``Status``. The protocol specification is its docstring.
* Gateware (imports ``protocol`` and ``lmul.rtl``, never a golden model):
  ``host_link.py`` — ``HostLink``, the protocol engine; ``matmul_board.py`` — ``MatmulBoard``,
  UART + ``HostLink`` + ``MatmulEngine`` with two pins.
* Golden twin: ``device_model.py`` — ``HostLinkModel`` (bytes in, reply bytes out, as the
  gateware) and ``ModelTransport`` (it as a host transport); computes with ``lmul.sim``.
* Simulation: ``board_sim.py`` — ``SimulatedBoard``, the ``MatmulBoard`` RTL in the Amaranth
  simulator behind a bit-level serial line (a host transport).
* Host side: ``host.py`` — ``LMulDevice`` (tiling, resends, golden check) and
  ``SerialTransport`` (pyserial).
* Targets and CLI: ``targets.py`` — iCEBreaker and ULX3S (``BOARDS``), ``BoardTop``, ``build``
  (YoWASP tools), ``program`` (openFPGALoader); ``cli.py`` — ``lmul build`` and ``lmul board``.

Tests: ``tests/test_host_link.py`` (codec, model, gateware == model byte for byte, driver over
faulty lines) and ``tests/test_boards.py`` (targets, bitstreams, the CLI commands).
"""

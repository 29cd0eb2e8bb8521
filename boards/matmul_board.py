"""The board design: UART <-> ``HostLink`` <-> ``MatmulEngine`` (twin: ``lmul.boards.device_model.HostLinkModel``).

``MatmulBoard(cfg, divisor, timeout_cycles)`` has two pins: ``rx`` (from the host, idle high)
and ``tx`` (to the host). 8N1 at ``f_clk / divisor`` baud; the protocol is the one of
``lmul.boards.protocol``. Everything runs in the ``sync`` domain; a synchronous reset clears the
link and the engine (loaded weights and results are forgotten). Gateware: imports no golden model.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from lmul.boards.host_link import HostLink
from lmul.boards.protocol import LinkConfig
from lmul.rtl.matmul_engine import MatmulEngine
from lmul.rtl.uart import UARTRx, UARTTx

__all__ = ["MatmulBoard"]


class MatmulBoard(wiring.Component):
    """UART, ``HostLink`` and ``MatmulEngine`` behind two pins (module docstring).

    Parameters
    ----------
    cfg : LinkConfig
        Format, product kind, accumulator (``MatmulEngine(..., acc=cfg.acc)``), array size,
        output format and the ``m_max``/``k_max``/``n_max`` limits.
    divisor : int
        Clock cycles per UART bit (>= 4).
    timeout_cycles : int
        The link's line-idle timeout (``HostLink``).
    pipeline : int
        Extra register stages of the engine's array (``MatmulEngine(pipeline=...)``, default 0): a
        faster core clock for more flip-flops; the protocol and results do not change.

    Attributes
    ----------
    rx : In(1), init 1
        Serial data from the host; synchronised inside the UART receiver.
    tx : Out(1), init 1
        Serial data to the host.

    Latency and throughput: those of the protocol over the UART (request/reply, bounded by the
    byte time), not fixed cycle counts; see ``HostLink`` and ``MatmulEngine``.
    """

    def __init__(self, cfg: LinkConfig, divisor: int, timeout_cycles: int, pipeline: int = 0) -> None:
        self.cfg = cfg
        self.uart_rx, self.uart_tx = UARTRx(divisor), UARTTx(divisor)
        self.link = HostLink(cfg, timeout_cycles)
        self.engine = MatmulEngine(cfg.fmt, cfg.kind, cfg.rows, cfg.cols, cfg.out_fmt, cfg.m_max, cfg.k_max,
                                   cfg.n_max, acc=cfg.acc, pipeline=pipeline)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    @property
    def pipeline(self) -> int:
        """The engine array's extra register stages."""
        return self.engine.pipeline

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.uart_rx = urx = self.uart_rx
        m.submodules.uart_tx = utx = self.uart_tx
        m.submodules.link = link = self.link
        m.submodules.engine = eng = self.engine
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        wiring.connect(m, urx.o, link.rx)
        wiring.connect(m, link.tx, utx.i)
        wiring.connect(m, link.cmd, eng.cmd)
        wiring.connect(m, link.data, eng.data)
        wiring.connect(m, eng.res, link.res)
        return m

"""FPGA board targets (installed as ``lmul.boards``)."""

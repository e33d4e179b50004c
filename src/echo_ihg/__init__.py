"""echo-ihg: open, CPU-real-time interactive head generation after ECHO (arXiv 2603.17427)."""

__version__ = "0.1.0"

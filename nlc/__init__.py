"""nlc: a declarative graph compiler for multi-timescale (Nested Learning) models."""

__version__ = "0.1.0"

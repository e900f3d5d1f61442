"""Compiler passes: one pure function per file, each `Graph -> Graph` (lower: Spec -> Graph)."""

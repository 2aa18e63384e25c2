"""Evaluation protocols: pure functions (arrays in, numbers out, explicit random_state, no I/O)."""
from dabench.protocols import accuracy as accuracy

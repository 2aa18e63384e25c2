"""Evaluation protocols: pure functions (arrays in, numbers out, explicit random_state, no I/O).

Importing this package registers them in :data:`dabench.registry.PROTOCOLS` (key → the pure function).
"""
from dabench.protocols import accuracy as accuracy
from dabench.protocols import grid as grid
from dabench.protocols import image_quality as image_quality
from dabench.protocols import pad as pad
from dabench.protocols import tsne as tsne
from dabench.protocols import validators as validators

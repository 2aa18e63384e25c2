"""dabench — a domain-adaptation benchmark suite around CDLM (Hou, Deng, Cranefield, Ding, WACV 2021)."""
__version__ = "0.1.0"

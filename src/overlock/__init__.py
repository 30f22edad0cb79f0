"""overlock: declarative, locked overlays of packages on a read-only base Python environment."""

__version__ = "0.1.0"

__all__ = ["__version__"]

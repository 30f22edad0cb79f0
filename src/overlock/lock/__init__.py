"""The lock: the PEP 751 file model and how a resolution becomes a lock."""

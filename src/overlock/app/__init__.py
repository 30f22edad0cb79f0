"""Use cases below the CLI: an overlay and its base, locking and syncing them, kernels, audits."""

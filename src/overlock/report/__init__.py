"""Read-only answers about an overlay: show, why, export, modulefiles."""

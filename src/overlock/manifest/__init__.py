"""overlay.toml: its model, loader, editor, and the resolve policy and constraints it declares."""

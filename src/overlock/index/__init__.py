"""Package indexes over HTTP: configuration, pages, metadata, lazy wheels."""

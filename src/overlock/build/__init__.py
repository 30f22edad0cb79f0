"""Building local, git and sdist sources into wheels."""

"""The resolver: resolvelib over the base's installed metadata plus a package source."""

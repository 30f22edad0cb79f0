"""What lives in an overlay prefix and how Python is pointed at it: the bootstrap, activation,
lower layers."""

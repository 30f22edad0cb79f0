"""What lives in an overlay prefix and how Python is pointed at it: bootstrap, activation, layers."""

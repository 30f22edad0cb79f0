"""Scripts that run inside the base interpreter: only the base's standard library, Python 3.7
syntax.
"""

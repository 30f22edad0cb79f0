"""Making a prefix hold exactly the lock: generations, installing wheels, byte-code, the no-op
stamp.
"""

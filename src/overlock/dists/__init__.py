"""The shared vocabulary of distributions: release and file values, requirements, METADATA. No I/O
beyond reading files.
"""

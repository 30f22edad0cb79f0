"""The base environment as data: the probe's facts, its cache, wheel tags and markers, installed
files.
"""

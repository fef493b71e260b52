"""Typed settings for every command, filled from a YAML file and command-line flags.

settings (the dataclasses and their choices), flags (the label of every setting: the flag that
sets it), validate (every check of a value, once, at the boundary), machine (limits that depend
on this machine: threads, memory) and files (YAML files and --set).
"""

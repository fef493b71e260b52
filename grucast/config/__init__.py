"""Typed settings for every command, filled from a YAML file and command-line flags.

settings (the dataclasses and their choices); flags (the table of every settings flag: name,
config path, type, help, commands, environment variable; the labels in messages and the
overrides are generated from it); names (the nearest valid name of a mistyped setting);
validate (every check of a value, once, at the boundary); machine (limits that depend on this
machine: threads, memory); files (YAML files and --set).
"""

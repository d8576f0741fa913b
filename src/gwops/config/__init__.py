"""The config compiler: parse -> schema -> consistency -> generate.

`pipeline.compile_project()` runs every stage and returns a `Compiled` result or raises
`ConfigError` carrying every problem found, each located at file:line.
"""

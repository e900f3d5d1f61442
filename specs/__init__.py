"""The shipped presets, claims and the spec language's JSON Schema, installed as the package
data `nlc.presets_data` (see pyproject.toml; read with `nlc.resources`). No code here: the
file exists because an editable install finds a folder mapped to a nested package only
through its __init__.py."""

"""The JSON Schema of the spec language as text: what `nlc schema` prints and what ships as
`specs/nlc.schema.json` (package data), the file the presets' yaml-language-server modeline
names so that editors validate a spec while it is written. A test keeps the shipped file equal
to this text (`pytest --record-golden` rewrites it)."""

from __future__ import annotations

import json


def schema_text() -> str:
    """The schema, deterministic: keys sorted, two-space indents, one final newline."""
    from nlc.spec.schema import Spec

    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "nlc model spec"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"

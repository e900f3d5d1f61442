"""Kind `identity`: passes its input through (vanishes under collapse)."""

from __future__ import annotations

from typing import Literal

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Call, Emission


class Identity(ComponentBase):
    """Passes its input through (vanishes under collapse)."""

    kind: Literal["identity"]

    def emit(self, d, model, tie_attr):
        return Emission(None, Call.PASS)


KIND = Identity

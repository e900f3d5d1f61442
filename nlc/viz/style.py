"""Colours and line styles shared by every renderer, so all pictures read the same way."""

from __future__ import annotations

# Fill colours of state nodes by StateKind value (colour-blind-safe Okabe-Ito hues, light).
STATE_FILL = {
    "kv_cache": "#f6c88f",
    "memory": "#9fd3f0",
    "momentum": "#b9e3d4",
    "mlp_level": "#f3a6c8",
    "weight": "#d9d9d9",
    "opt_state": "#fff3a0",
}
# Strong versions of the same hues, for markers in the spectrum and timeline.
STATE_COLOR = {
    "kv_cache": "#e69f00",
    "memory": "#0072b2",
    "momentum": "#009e73",
    "mlp_level": "#cc79a7",
    "weight": "#7f7f7f",
    "opt_state": "#b8a000",
}
COMPUTE_FILL = "#ffffff"
BAND_FILL = ("#f7f9fc", "#eef2f8")  # alternating band backgrounds
COMPUTE_BAND_FILL = "#fdfaf3"

# Edge styles: (colour, dash pattern for SVG or None, DOT style, width). The covering edges
# of ≻ are the point of the picture: thick and dark red; dataflow plain; the rest light.
EDGE_STYLE = {
    "covering": ("#b2182b", None, "bold", 2.2),
    "dataflow": ("#333333", None, "solid", 1.2),
    "reads": ("#9a9a9a", "2,3", "dotted", 0.9),
    "updates": ("#2166ac", "6,3", "dashed", 1.0),
    "initializes": ("#1b7837", "1,3", "dotted", 0.9),
}
EDGE_MEANING = {
    "covering": "A ≻ B (A faster, or as fast and B needs A): covering pairs",
    "dataflow": "activations flow",
    "reads": "compute reads state",
    "updates": "update signal",
    "initializes": "meta-learned initial value",
}


def fill_of(kind: str, is_state: bool) -> str:
    return STATE_FILL.get(kind, "#eeeeee") if is_state else COMPUTE_FILL

"""Safe names in emitted code: every spec name maps to one Python name that cannot shadow a
builtin, a torch module attribute or a name the emitted code itself uses."""

from __future__ import annotations

import builtins
import keyword

# attributes every nn.Module has (assigning a submodule there would break the module)
_MODULE_ATTRS = frozenset(
    {
        "forward", "training", "parameters", "buffers", "children", "modules", "state_dict",
        "load_state_dict", "to", "cuda", "cpu", "eval", "train", "apply", "register_buffer",
        "register_parameter", "add_module", "named_parameters", "named_modules", "half",
        "float", "double", "type", "zero_grad", "extra_repr", "requires_grad_", "get_submodule",
        "dump_patches", "call_super_init", "cfg",
    }
)  # fmt: skip
_EMITTED = frozenset({"torch", "nn", "F", "rt", "x", "idx", "state", "new_state", "self", "cfg"})
_RESERVED = frozenset(dir(builtins)) | _MODULE_ATTRS | _EMITTED | frozenset(keyword.kwlist)


def attr_name(name: str) -> str:
    """The attribute name of a component's submodule (a validated identifier, made safe)."""
    return name + "_" if name in _RESERVED or name.startswith("_") else name


def class_name(name: str) -> str:
    """CamelCase class name of a block: 'layers' -> 'Layers', 'mac_layers' -> 'MacLayers'."""
    out = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)
    return out + "Block" if out in _RESERVED or not out else out

"""Safe names in emitted code: every spec name maps to one Python name that cannot shadow a
builtin, a torch module attribute or a name the emitted code itself uses."""

from __future__ import annotations

import builtins
import keyword

from nlc.kinds import RUNTIMES

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


def _imported_names() -> frozenset[str]:
    """Every name an emitted model.py imports or defines at module level."""
    names = {"Model", "Config", "dataclass", "persistent_state", "_init_weights"}
    lines = {runtime.import_line for runtime in RUNTIMES} | {
        "from nlc_runtime.exec.recompute import call_block",
        "from nlc_runtime.exec.wavefront import wavefront",
        "from nlc_runtime.exec.stream import carried, copy_state, resume, span",
        "from nlc_runtime.exec.clock import is_due, segments",
        "from nlc_runtime.exec.state import detach_state",
        "from nlc_runtime.exec import lm_signal",
    }
    for line in lines:
        tail = line.split(" import ", 1)[1] if " import " in line else line.split()[-1]
        names |= {part.split(" as ")[-1].strip() for part in tail.split(",")}
    return frozenset(names)


class Names:
    """Unique emitted identifiers for one compile: block classes never repeat one another nor
    a name the module imports or defines (`Model`, `Config`, `CMS` ...), and components of one
    scope never share an attribute (`train` and `train_` both made safe to `train_` would)."""

    def __init__(self):
        self.classes: set[str] = set(_imported_names())

    def block_class(self, name: str) -> str:
        base = class_name(name)
        if base in self.classes:
            base += "Block"
        out, n = base, 2
        while out in self.classes:
            out, n = f"{base}{n}", n + 1
        self.classes.add(out)
        return out

    @staticmethod
    def attributes(names: list[str]) -> dict[str, str]:
        """Spec name -> attribute for the entries of one scope, unique among them."""
        used: set[str] = set()
        out = {}
        for name in names:
            attr = attr_name(name)
            while attr in used or attr in names and attr != name:
                attr += "_"
            used.add(attr)
            out[name] = attr
        return out

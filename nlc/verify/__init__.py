"""nlc verify: is one spec a collapsed case of another, and does the emitted code mean what
the spec says? (docs/design.md, "Collapse" and "Reference semantics".)

Commands (registered by `nlc.verify.cli.add_commands`):

    nlc verify SPEC --collapses-to TARGET [--when PATH=VALUE ...] [--target-when ...]
               [--json] [--structural-only] [--tokens N] [--tol X]
    nlc verify --list | --claim NAME | --all
    nlc run-reference SPEC [--compare] [--json]

Exit codes of `verify`: 0 holds, 1 does not hold, 2 bad input.

Modules, one job each:
- `overrides`  the `--when` syntax (dotted path through keys, indices and component names;
               YAML values; `layers.cms.levels=outer` keeps one level with that period);
- `targets`    named forms (zoo specs with the source's model sizes and optimizer) and files;
- `structural` collapse both graphs, canonicalise (`nlc.passes.expand_outer_cms`: an all-outer
               CMS is norm/mlp/add per level; `nlc.passes.canonical_memory`: memories compared
               by what they compute), networkx isomorphism with kinds, periods, shapes and edge
               types matched, readable differences on failure;
- `numerical`  map weights through the correspondence, compare outputs and gradients (float64);
- `build`      render and import an emitted model.py;
- `reference`  the reference interpreter (walks the IR one token at a time, all components);
- `steps`      per-token steps of the runtime's stateful modules (the interpreter's clock);
- `differential` emitted chunk-parallel code vs the interpreter on equal weights;
- `claims`     the shipped claims in `specs/claims/*.yaml` (targets in `specs/claims/targets/`).
"""

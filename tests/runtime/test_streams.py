"""Stream batching (`nlc_runtime.training.streams`): each row reads its stream window after window; a
stream's end restarts that row only; N processes see what one process with N x the batch sees;
a saved cursor resumes the same batches; bad settings are one-line DataErrors."""

from __future__ import annotations

import pytest
import torch
from nlc_runtime.training.data import DataError, load_documents, split_documents
from nlc_runtime.training.streams import IGNORE, Streams, cut_streams, document_streams

W = 8


def _streams(data, streams, batch=3, seed=0, **kw):
    return Streams(data, streams, batch, W, torch.Generator().manual_seed(seed), **kw)


def test_each_row_reads_consecutive_windows_of_its_stream():
    data = torch.arange(1000)
    feed = _streams(data, cut_streams(len(data), 4 * W, W))
    windows = [feed.next() for _ in range(9)]
    for w in range(1, 9):
        x_prev, _, _ = windows[w - 1]
        x, y, fresh = windows[w]
        assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
        if w % 4:  # inside a stream: the window starts where the last one ended
            assert not fresh.any()
            assert torch.equal(x[:, 0], x_prev[:, -1] + 1)
        else:  # streams of one length: every row starts a new one together
            assert fresh.all()
            assert (x[:, 0] % (4 * W) == 0).all()
    assert windows[0][2].all()


def test_a_document_end_restarts_that_row_only_with_padding_after_it():
    data = torch.arange(100)
    # documents of 2 windows + 3 tokens, and of exactly 1, 2, 3 windows
    starts = [0, 2 * W + 4, 3 * W + 5, 5 * W + 6]
    feed = _streams(data, document_streams(starts, len(data)), batch=2, shuffle=False)
    seen_fresh = []
    for _ in range(6):
        x, y, fresh = feed.next()
        seen_fresh.append(fresh.tolist())
        for row in range(2):
            pad = y[row] == IGNORE
            if pad.any():  # a padded tail: after the document's last target, nothing scored
                k = int(pad.nonzero()[0])
                assert pad[k:].all() and (x[row, k:] == 0).all()
    # row 0 reads document 0 (3 windows), row 1 document 1 (1 window) then document 2
    assert seen_fresh[:3] == [[True, True], [False, True], [False, False]]
    assert seen_fresh[3][0] is True  # row 0 restarts alone when its document is done


def test_documents_never_predict_across_their_end():
    starts = [0, 10, 25]
    streams = document_streams(starts, 40)
    assert streams == [(0, 9), (10, 24), (25, 39)]
    data = torch.arange(40)
    feed = Streams(data, streams, 3, 16, torch.Generator(), shuffle=False)
    _, y, _ = feed.next()
    for (_, e), row in zip(streams, y, strict=True):
        targets = row[row != IGNORE]
        assert targets.max() == e  # the last target is the document's own last token


def test_processes_split_the_rows_of_one_process():
    data = torch.arange(5000)
    streams = document_streams(list(range(0, 5000, 37)), 5000)
    one = _streams(data, streams, batch=4, seed=7, groups=2)
    two = [_streams(data, streams, batch=2, seed=7, rank=r, world=2, groups=2) for r in (0, 1)]
    for _ in range(20):
        for group in (0, 1):
            x, y, fresh = one.next(group)
            parts = [p.next(group) for p in two]
            assert torch.equal(x, torch.cat([p[0] for p in parts]))
            assert torch.equal(y, torch.cat([p[1] for p in parts]))
            assert torch.equal(fresh, torch.cat([p[2] for p in parts]))


def test_a_saved_cursor_resumes_the_same_batches():
    data = torch.arange(3000)
    streams = document_streams(list(range(0, 3000, 53)), 3000)
    a = _streams(data, streams, seed=1)
    for _ in range(7):
        a.next()
    saved = a.state_dict()
    b = _streams(data, streams, seed=99)
    b.load_state_dict(saved)
    for _ in range(30):
        xa, ya, fa = a.next()
        xb, yb, fb = b.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(fa, fb)
    with pytest.raises(DataError, match="rows"):
        _streams(data, streams, batch=5).load_state_dict(saved)


def test_bad_stream_settings_are_one_line_errors():
    with pytest.raises(DataError, match="shorter than the window"):
        cut_streams(1000, W - 1, W)
    with pytest.raises(DataError, match="no stream"):
        cut_streams(20, 64, W)
    with pytest.raises(DataError, match="no text"):
        _streams(torch.arange(10), [])


def test_documents_of_a_jsonl_file_and_their_split(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(f'{{"text": "document {i} ' + "x" * i + '"}\n' for i in range(10)))
    tokens, starts = load_documents(str(path))
    assert len(starts) == 10 and starts[0] == 0
    text = bytes(tokens.tolist()).decode()
    assert text.startswith("document 0 \n\ndocument 1 x\n\n")
    (train, train_starts), (val, val_starts) = split_documents(tokens, starts, 4, 0.2, "docs")
    assert len(train_starts) + len(val_starts) == 10 and val_starts[0] == 0
    assert bytes(val[: len("document")].tolist()).decode() == "document"
    (tmp_path / "empty.jsonl").write_text('{"text": "   "}\n')
    with pytest.raises(DataError, match="no text"):
        load_documents(str(tmp_path / "empty.jsonl"))
    one = tmp_path / "one.txt"
    one.write_text("one text")
    assert load_documents(str(one)) is None  # one text: cut into streams of one length

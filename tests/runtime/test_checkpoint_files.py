"""A checkpoint save leaves no temporary file behind, whatever the writer does beside its
target: safetensors >= 0.8 writes `.tmpXXXXXX` next to the file it is asked for and renames it,
so a process killed inside that write left a file the next save did not recognise (found by
tests/train/test_kill.py in CI)."""

import torch
from nlc_runtime.training import checkpoint
from nlc_runtime.training.checkpoint import STATE, WEIGHTS, save_checkpoint


def test_a_writer_killed_mid_write_leaves_only_what_the_next_save_removes(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()

    def killed_writer(tmp):  # as safetensors: its own temporary beside its target, then killed
        with open(f"{tmp}.partial", "wb") as f:
            f.write(b"half a file")
        raise KeyboardInterrupt  # stands for the signal: BaseException, not Exception

    try:
        checkpoint._atomic(folder / WEIGHTS, killed_writer)
    except KeyboardInterrupt:
        pass
    assert list(folder.iterdir()) == []  # an interrupted save cleans its own folder

    # a SIGKILL runs no cleanup: its private folder stays, with the writer's file inside,
    # and a file named as older versions named theirs
    stale = folder / f".{WEIGHTS}.abc123.tmp"
    stale.mkdir()
    (stale / ".tmpKk41Tp").write_bytes(b"half a file")
    (folder / f".{STATE}.xyz.tmp").write_bytes(b"half a file")
    save_checkpoint(folder, {"w": torch.ones(2)}, {"step": 1})
    assert sorted(p.name for p in folder.iterdir()) == [WEIGHTS, STATE]

"""dnd.fileio.memo_tensor: computed once, read back, a damaged or stale file recomputed."""

import torch

from dnd.fileio import memo_tensor


def test_memo_tensor_computes_once_and_recovers_from_bad_files(tmp_path):
    path, calls = tmp_path / "memo" / "x.safetensors", []

    def compute():
        calls.append(1)
        return torch.arange(6.0).reshape(2, 3)

    first = memo_tensor(path, "x", compute)
    again = memo_tensor(path, "x", compute)
    assert torch.equal(first, again) and len(calls) == 1  # the second call read the file
    assert not list(path.parent.glob(".*"))  # no temporary file left behind

    assert memo_tensor(path, "x", compute, accept=lambda t: t.shape == (3, 2)).shape == (2, 3)
    assert len(calls) == 2  # a stale shape is recomputed
    path.write_bytes(path.read_bytes()[:20])  # damaged
    assert torch.equal(memo_tensor(path, "x", compute), first) and len(calls) == 3
    assert torch.equal(memo_tensor(path, "x", compute), first) and len(calls) == 3  # and replaced

"""Forked DataLoader workers must not deadlock in ``read_video``'s OpenCV set-up when the parent
process had started OpenCV's thread pool (DIS / TV-L1 flow, a large resize) before the fork."""

import numpy as np
from torch.utils.data import DataLoader, Dataset

from spacetime.video.io import _decoder_threads


class _Threads(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        return _decoder_threads(None)


def test_forked_workers_after_the_parent_used_opencv_threads():
    import cv2

    big = np.random.default_rng(0).random((1500, 1500), dtype=np.float32)
    for _ in range(3):  # OpenCV's parallel resize starts its thread pool in this process
        cv2.resize(big, (2500, 2500))
    loader = DataLoader(_Threads(), batch_size=2, num_workers=2, timeout=60)
    assert [b.tolist() for b in loader] == [[1, 1], [1, 1]]  # one decoding thread per worker

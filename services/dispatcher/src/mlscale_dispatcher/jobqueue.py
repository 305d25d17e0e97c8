"""The dispatcher's queue, bounded twice: by requests and by the bytes of the images it holds.

Queued images live in the process's memory, so a count alone does not bound it: 10,000 of the
sample images are 4.2 GB (5.6 GB while they were kept as base64), and a pod with a 512 Mi limit was
OOM-killed at about 800 of them, losing every request it held. The byte bound makes that a 429.
"""

from __future__ import annotations

import asyncio

from mlscale_dispatcher.forwarder import Job


class JobQueue(asyncio.Queue[Job]):
    """A FIFO of jobs that also counts the bytes of their images (``queued_bytes``)."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        super().__init__(maxsize=max_items)
        self.max_bytes = max_bytes
        self.queued_bytes = 0

    def refusal(self, image_bytes: int = 0) -> str | None:
        """Why a job of ``image_bytes`` would not fit now, or None if it would."""
        if self.full():
            return f"the queue holds its limit of {self.maxsize} requests"
        if self.queued_bytes + max(image_bytes, 1) > self.max_bytes:  # before the body: room for 1 byte
            return (
                f"the queue holds {_mib(self.queued_bytes)} of images; with this one it would pass "
                f"its limit of {_mib(self.max_bytes)}"
                if image_bytes
                else f"the queue holds its limit of {_mib(self.max_bytes)} of images"
            )
        return None

    # asyncio.Queue's hooks for subclasses (PriorityQueue uses them): every put and get passes here.
    def _put(self, item: Job) -> None:
        super()._put(item)
        self.queued_bytes += len(item.image)

    def _get(self) -> Job:
        item = super()._get()
        self.queued_bytes -= len(item.image)
        return item


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"

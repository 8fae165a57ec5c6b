"""Reading ranks back out of launcher output, shared by every compute backend (the
command lines themselves are built by ``execution.plan``).

- PyTorch: ``torchrun --tee 3`` prefixes each line with its rank (``TORCHRUN_ENV``).
- MPI: Open MPI's ``mpirun --tag-output`` prefixes lines with ``[job,rank]<stream>:``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

TORCHRUN_PREFIX = re.compile(r"^\[(default|rank)?(\d+)\]:(.*)$", re.S)
# torchrun's --tee prefixes lines with the *local* rank by default; with a rendezvous
# (c10d) global ranks are assigned at run time, so ask torchrun for the global rank.
TORCHRUN_ENV = {"TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE": "[rank${rank}]:"}
MPI_TAG = re.compile(r"\[\d+,(\d+)\]<(stdout|stderr)>:")


def split_torchrun_line(text: str, node_rank: int, per_node: int) -> tuple[int, str] | None:
    match = TORCHRUN_PREFIX.match(text)
    if not match:
        return None
    number = int(match.group(2))
    if match.group(1) == "rank":
        return number, match.group(3)  # already the global rank
    return node_rank * per_node + number, match.group(3)


class MpiLines:
    """Routes mpirun's ``--tag-output`` lines to ranks. An unbuffered rank writes a line's
    text and its newline separately, and mpirun may put another rank's tagged output in
    between (``[1,0]<stdout>:text[1,1]<stdout>:other``): text followed by another tag on
    the same line is held per rank until that rank's newline arrives."""

    def __init__(self, write: Callable[[int, str, str], None], untagged_rank: int, stream: str) -> None:
        self.write = write
        self.untagged_rank = untagged_rank
        self.stream = stream
        self.pending: dict[tuple[int, str], str] = {}

    def __call__(self, text: str) -> None:
        tags = list(MPI_TAG.finditer(text))
        if not tags:
            self.write(self.untagged_rank, self.stream, text)
            return
        if tags[0].start() > 0:
            self.write(self.untagged_rank, self.stream, text[: tags[0].start()])
        for index, tag in enumerate(tags):
            key = (int(tag.group(1)), tag.group(2))
            end = tags[index + 1].start() if index + 1 < len(tags) else len(text)
            piece = self.pending.pop(key, "") + text[tag.end() : end]
            if index + 1 < len(tags):
                self.pending[key] = piece  # its newline comes later
            else:
                self.write(key[0], key[1], piece)

    def flush(self) -> None:
        for (rank, stream), piece in self.pending.items():
            self.write(rank, stream, piece)
        self.pending.clear()

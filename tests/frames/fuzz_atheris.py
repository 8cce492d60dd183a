"""Coverage-guided fuzzing of the STOMP frame codec with atheris (libFuzzer), optional.

The default long run is tests/frames/fuzz.py (random mutations, no extra package).
This harness lets libFuzzer steer the inputs by the branches they reach in
stompim.frames, with the same oracle (:func:`frames.fuzz.check`).  atheris ships
wheels for CPython 3.11 on Linux x86-64; it is not a test dependency::

    .venv/bin/pip install atheris
    mkdir -p /tmp/stomp-corpus
    .venv/bin/python -m tests.frames.fuzz_atheris /tmp/stomp-corpus -atheris_runs=1000000

The first bytes of each input pick the limits, the STOMP version and the chunking
seed; the rest is the wire input.  The corpus directory starts from
:func:`frames.fuzz.seed_corpus` and keeps what libFuzzer finds interesting.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["stompim.frames"]):
    from stompim.frames.commands import SUPPORTED_VERSIONS
    from tests.frames.fuzz import LIMITS_CHOICES, check, seed_corpus


def one_input(data: bytes) -> None:
    """libFuzzer's entry point: raises (and so reports) on any failed invariant."""
    provider = atheris.FuzzedDataProvider(data)
    limits = LIMITS_CHOICES[provider.ConsumeIntInRange(0, len(LIMITS_CHOICES) - 1)]
    version = SUPPORTED_VERSIONS[provider.ConsumeIntInRange(0, len(SUPPORTED_VERSIONS) - 1)]
    rng = random.Random(provider.ConsumeUInt(4))
    check(provider.ConsumeBytes(provider.remaining_bytes()), rng, limits, version)


def main() -> None:
    """Seed the corpus directory (first argument without a leading '-'), then fuzz."""
    folders = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if folders:
        folder = Path(folders[0])
        folder.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(seed_corpus()):
            # 2 bytes of choices and 4 of seed before the frame, as one_input reads them.
            (folder / f"seed-{index:03d}").write_bytes(bytes(6) + frame)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

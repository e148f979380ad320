from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


# One thread: the tests use tiny tensors, and on a busy 2-core machine two threads per process make them
# slower and their timing erratic (subprocesses inherit the limit through the environment).
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run ``nlx ARGS`` in-process through the real entry point; returns exit code, stdout, stderr."""
    from nlx.cli import main

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["nlx", *map(str, args)])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exit_:
            code = int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated benchmark at smoke size (24 MP4s), made once per test session."""
    from nlx.data.synth import PRESETS, generate

    root = tmp_path_factory.mktemp("smoke-data")
    generate(root, PRESETS["smoke"], seed=0, workers=1)
    return root

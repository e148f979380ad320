"""Training and evaluation: end to end at smoke size, resume, DDP, NaN, bad configs, run records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nlx.config import load_preset
from nlx.io import read_jsonl
from nlx.train import TrainingFailed, train
from nlx.train import checkpoint as ckpt_module
from nlx.train import run as run_module
from nlx.train.optim import lr_factor

REPO = Path(__file__).resolve().parents[1]


def smoke_config(data: Path, *overrides: str):
    return load_preset("smoke").resolve(None, None, [f"data.root={data}", *overrides])


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model_final.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_train_then_eval_end_to_end(smoke_data: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "run"
    result = cli("train", "smoke", f"data.root={smoke_data}", "model.non_local.blocks=5", "--out", out)
    assert result.code == 0, result.err
    for name in ("config.yaml", "meta.json", "metrics.jsonl", "final.json", "log.txt", "model_final.pt"):
        assert (out / name).is_file(), name
    final = json.loads((out / "final.json").read_text())
    assert (
        set(final["metrics"]) == {"top1", "top5"} and final["test_videos"] == 8 and final["test_views"] == 2
    )
    assert final["params"] > 0 and final["flops"] > 0 and final["iterations"] == 4
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "done" and meta["git"]["sha"] and "torch" in meta["versions"]
    kinds = [r["kind"] for r in read_jsonl(out / "metrics.jsonl")]
    assert kinds.count("train") == 4 and kinds.count("val") == 2 and kinds[-1] == "test"
    evaluated = cli("eval", out, "eval.test_clips=3", "--format", "json")
    assert evaluated.code == 0, evaluated.err
    payload = json.loads(evaluated.out)
    assert payload["test_views"] == 3 and payload["test_videos"] == 8 and "top1" in payload["metrics"]
    again = cli("train", "smoke", f"data.root={smoke_data}", "model.non_local.blocks=5", "--out", out)
    assert again.code == 0 and "complete already" in again.err  # a finished run is not retrained


@pytest.mark.slow
def test_resume_is_bit_exact(smoke_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = smoke_config(smoke_data, "model.non_local.blocks=res3", "model.dropout=0.5")
    train(cfg, tmp_path / "straight")

    real_save = ckpt_module.save_checkpoint

    def save_then_die(run, iteration, *args, **kwargs):
        path = real_save(run, iteration, *args, **kwargs)
        if iteration == 2:
            raise KeyboardInterrupt  # a kill right after the first checkpoint
        return path

    monkeypatch.setattr(run_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "resumed")
    assert json.loads((tmp_path / "resumed" / "meta.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(run_module, "save_checkpoint", real_save)
    train(cfg, tmp_path / "resumed", resume=True)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_started_run_needs_resume(smoke_data: Path, tmp_path: Path) -> None:
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "ckpt_00000002.pt").write_bytes(b"")
    from nlx.errors import NlxError

    with pytest.raises(NlxError, match="--resume"):
        train(smoke_config(smoke_data), tmp_path / "run")


@pytest.mark.slow
def test_nan_loss_fails_the_run(smoke_data: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "nan"
    result = cli(
        "train", "smoke", f"data.root={smoke_data}", "optim.lr=1e30", "optim.steps=[100]", "--out", out
    )
    assert result.code == 1
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "failed" and "loss is" in meta["reason"]
    assert not (out / "final.json").exists()
    with pytest.raises(TrainingFailed):
        train(smoke_config(smoke_data, "optim.lr=1e30", "optim.steps=[100]"), tmp_path / "nan2")


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.bogus=1", "model.bogus: unknown key"),
        ("optim.lr=fast", "optim.lr: expected a number"),
        ("optim.batch_size=0", "optim.batch_size: expected a positive integer"),
        ("model.non_local.scope=planet", "model.non_local.scope: expected one of"),
        ("data.crop=999", "data.crop"),
        ("model.num_classes=7", "model.num_classes: 7, but the training set"),
    ],
)
def test_bad_config_is_one_line_exit_2(
    override: str, message: str, smoke_data: Path, tmp_path: Path, cli
) -> None:
    result = cli("train", "smoke", f"data.root={smoke_data}", override, "--out", tmp_path / "bad")
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) <= 2


def test_missing_data_is_exit_2(tmp_path: Path, cli) -> None:
    result = cli("train", "smoke", f"data.root={tmp_path / 'nowhere'}", "--out", tmp_path / "run")
    assert result.code == 2 and "nowhere" in result.err and "Traceback" not in result.err


def test_lr_schedule_steps_and_warmup() -> None:
    cfg = (
        load_preset("paper")
        .resolve(None, None, ["optim.warmup_iterations=100", "optim.warmup_factor=0.1"])
        .optim
    )
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(50, cfg) == pytest.approx(0.55)
    assert lr_factor(100, cfg) == 1.0 and lr_factor(149_999, cfg) == 1.0
    assert lr_factor(150_000, cfg) == pytest.approx(0.1) and lr_factor(300_000, cfg) == pytest.approx(0.01)


def test_weight_decay_groups() -> None:
    from nlx.factory import build_model
    from nlx.train.optim import parameter_groups

    cfg = load_preset("smoke").resolve()
    model = build_model(cfg.model)
    assert len(parameter_groups(model, cfg.optim)) == 1
    groups = parameter_groups(
        model, load_preset("smoke").resolve(None, None, ["optim.wd_exclude_bn_bias=true"]).optim
    )
    decay, rest = groups
    assert all(p.ndim > 1 for p in decay["params"]) and rest["weight_decay"] == 0.0
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_ddp_two_processes_match_one(smoke_data: Path, tmp_path: Path) -> None:
    """gloo on CPU: 2 processes × 2 clips reach the weights of 1 process × 4 clips (BN frozen, no dropout)."""
    common = [
        "smoke",
        f"data.root={smoke_data}",
        "model.freeze_bn=true",
        "model.dropout=0.0",
        "optim.iterations=3",
        "model.non_local.blocks=res4",
        "eval.every=100",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    single = subprocess.run([sys.executable, "-m", "nlx", "train", *common, "--out", str(tmp_path / "one")],
                            env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert single.returncode == 0, single.stderr[-2000:]
    multi = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            "-m",
            "nlx",
            "train",
            *common,
            "--out",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert multi.returncode == 0, multi.stderr[-2000:]
    meta = json.loads((tmp_path / "two" / "meta.json").read_text())
    assert meta["world_size"] == 2
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    changed = [
        k
        for k in a
        if k.endswith("weight")
        and not torch.equal(
            a[k],
            torch.load(tmp_path / "one" / "checkpoints" / "ckpt_00000002.pt", weights_only=True)["model"][k],
        )
    ]
    assert changed  # training moved the weights
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)

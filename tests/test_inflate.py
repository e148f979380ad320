"""ImageNet initialisation: an inflated network on a static clip matches its 2D source (Sec. 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from nlx.errors import NlxError
from nlx.models import NonLocalPlacement, Pool, Stem, VideoResNet, create_model, load_imagenet_2d
from nlx.models.inflate import read_state_dict, video_key


def _resnet2d(layout: str) -> nn.Module:
    """A random torchvision ResNet-50 with non-trivial BN, in the stride layout of the video model."""
    net = torchvision.models.resnet50(weights=None)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.2, 0.5)
                m.bias.normal_(0, 0.1)
    if layout == "1x1":  # the Caffe2 ResNet of the paper: stride on the first 1×1, unpadded pool1
        for layer in (net.layer2, net.layer3, net.layer4):
            layer[0].conv1.stride, layer[0].conv2.stride = (2, 2), (1, 1)
        net.maxpool.padding = 0
    return net.eval()


def _video(name: str, layout: str, **kwargs: object) -> VideoResNet:
    pad = 0 if layout == "1x1" else 1
    stem = Stem(pool1=Pool((3, 3, 3), (2, 2, 2), (1, pad, pad)))
    model = create_model(name, stride_on=layout, stem=stem, **kwargs)
    assert isinstance(model, VideoResNet)
    return model.eval()


@pytest.mark.parametrize("layout", ["1x1", "3x3"])
@pytest.mark.parametrize("name", ["c2d_r50", "i3d_r50", "i3d_3x3x3_r50"])
def test_static_clip_matches_2d_network(name: str, layout: str) -> None:
    net2d = _resnet2d(layout)
    model = _video(name, layout, nonlocal_placement=NonLocalPlacement("5"))
    report = load_imagenet_2d(model, net2d.state_dict())
    assert report.copied == len([k for k in net2d.state_dict() if not k.startswith("fc.")])
    assert all(".nonlocal_blocks." in k or k.startswith("fc.") for k in report.kept_init)
    assert (name == "c2d_r50") == (not report.inflated)
    frame = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = nn.Sequential(*list(net2d.children())[:-2])(frame)  # (1, 2048, h, w)
        feats = model.features(frame[:, :, None].repeat(1, 1, 96, 1, 1))  # (1, 2048, 12, h, w)
    scale = ref.abs().max()
    middle = range(3, feats.shape[2] - 3)  # temporal zero padding breaks the identity near the clip ends
    for t in middle:
        assert ((feats[:, :, t] - ref).abs().max() / scale) < 1e-5, t
    if name != "c2d_r50":
        assert ((feats[:, :, 0] - ref).abs().max() / scale) > 1e-4  # the ends do differ: the test can fail


def test_inflated_kernels_are_rescaled() -> None:
    net2d = _resnet2d("1x1")
    model = _video("i3d_r50", "1x1")
    load_imagenet_2d(model, net2d.state_dict())
    w2d = net2d.conv1.weight
    w3d = model.conv1.weight  # (64, 3, 5, 7, 7)
    for t in range(5):
        torch.testing.assert_close(w3d[:, :, t], w2d / 5)
    torch.testing.assert_close(model.res2.blocks[0].conv_a.weight.sum(2), net2d.layer1[0].conv1.weight)


def test_key_mapping() -> None:
    assert video_key("layer3.5.conv2.weight") == "res4.blocks.5.conv_b.weight"
    assert video_key("layer1.0.downsample.1.running_mean") == "res2.blocks.0.shortcut.1.running_mean"
    assert video_key("bn1.weight") == "bn1.weight"
    assert video_key("fc.weight") is None


def test_state_dict_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r50.pth"
    torch.save({"state_dict": _resnet2d("1x1").state_dict()}, path)
    state = read_state_dict(path, 50)
    assert "layer4.2.conv3.weight" in state


def test_mismatching_checkpoints(tmp_path: Path) -> None:
    r101 = torchvision.models.resnet101(weights=None).state_dict()
    with pytest.raises(NlxError, match="no counterpart"):
        load_imagenet_2d(_video("c2d_r50", "1x1"), r101, source="r101.pth")
    r50 = torchvision.models.resnet50(weights=None).state_dict()
    with pytest.raises(NlxError, match="missing from the checkpoint"):
        load_imagenet_2d(_video("c2d_r101", "1x1"), r50, source="r50.pth")
    with pytest.raises(NlxError, match="does not fit"):
        load_imagenet_2d(_video("c2d_r50", "1x1", width=0.5), r50, source="r50.pth")
    with pytest.raises(NlxError, match="not found"):
        read_state_dict(tmp_path / "missing.pth", 50)
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(NlxError, match="not a readable"):
        read_state_dict(tmp_path / "junk.pth", 50)
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(NlxError, match="expected a dict of tensors"):
        read_state_dict(tmp_path / "list.pth", 50)

"""nlx: reproduce and extend the ablations of Non-local Neural Networks (Wang et al., CVPR 2018)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nlx")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

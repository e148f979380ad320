"""THE PLACE FOR EXTRA REPORT SECTIONS (attention visualisation, notes): edit :func:`extra_sections`.

:func:`nlx.report.write_report` calls it when its caller passes no ``extra``; each :class:`Section` it
returns is added to REPORT.md and report.html (and report.tex when it has ``latex``), after Figure 4 and
before "How the claims are checked", at the marker ``<!-- nlx report: extra sections ... -->``.

Keep the report a pure function of the results directory: read files under ``report`` / the results, not
clocks or the network. For a figure, write it under ``out / "figures"`` with :func:`nlx.io.write_bytes`
(PNG saved with :func:`nlx.report.figures.save` inside :func:`nlx.report.figures.style` is byte-stable),
link it from Markdown as ``figures/NAME.png`` and inline it in HTML with :func:`embed_png`.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nlx.report.report import Report, Section


def extra_sections(report: Report, out: Path) -> list[Section]:
    """Extra sections of the report, in order. None yet: the attention-visualisation figure goes here."""
    del report, out
    return []


def embed_png(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG inlined (report.html has no external assets)."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'

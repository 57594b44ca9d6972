"""Small PNG charts for chat replies (matplotlib's Agg canvas: no GUI, no global pyplot state)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from functools import lru_cache

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PNG_PREFIX = "data:image/png;base64,"


def bar_chart_png(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    width_in: float = 5.0,
    height_in: float = 3.0,
    dpi: int = 80,
) -> bytes:
    """Grouped bars: one group per label, one bar per series (e.g. total and weighted per stage).

    Rendering costs ~100-300 ms of CPU; the same figures asked again come from a small cache."""
    key = (tuple(labels), tuple((name, tuple(float(v) for v in values)) for name, values in series))
    return _render_cached(key, title, ylabel, width_in, height_in, dpi)


@lru_cache(maxsize=64)
def _render_cached(
    key: tuple[tuple[str, ...], tuple[tuple[str, tuple[float, ...]], ...]],
    title: str,
    ylabel: str,
    width_in: float,
    height_in: float,
    dpi: int,
) -> bytes:
    labels, series = key
    return _render(
        labels, series, title=title, ylabel=ylabel, width_in=width_in, height_in=height_in, dpi=dpi
    )


def _render(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    width_in: float = 5.0,
    height_in: float = 3.0,
    dpi: int = 80,
) -> bytes:
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    count = max(1, len(series))
    bar_width = 0.8 / count
    positions = range(len(labels))
    for i, (name, values) in enumerate(series):
        ax.bar(
            [p + (i - (count - 1) / 2) * bar_width for p in positions], list(values), bar_width, label=name
        )
    ax.set_xticks(list(positions), list(labels), fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    if count > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def as_b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def as_data_url(png: bytes) -> str:
    return PNG_PREFIX + as_b64(png)

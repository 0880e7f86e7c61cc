"""Charts for the report as inline SVG, drawn here from the figures: no script, no library, no
network, so the page reads the same offline, printed or in a screen reader. Each chart is an
<svg role="img"> named by its <title> and described by its <desc>; the page puts the same
numbers in a table beside it, which is what assistive technology and the tests read."""

from __future__ import annotations

from html import escape

# outcome colours, with enough contrast against white for a chart's marks (WCAG 1.4.11)
COLOURS = {"allow": "#2e7d32", "defer": "#9a5b00", "deny": "#c62828"}
# other series (markets), in order: distinct hues, each dark enough against white
PALETTE = ("#1565c0", "#6a1b9a", "#00695c", "#ad1457", "#4e342e", "#37474f", "#827717", "#bf360c")
INK = "#1f1f1f"
GRID = "#d0d0d0"


def _fmt(n: int) -> str:
    return f"{n:,}"


TICKS = 4  # gridlines above zero


def _nice_max(value: int) -> int:
    """A round axis maximum at or above value: TICKS steps of 1, 2 or 5 times a power of ten,
    so that every gridline is a round number."""
    if value <= 0:
        return TICKS
    power = 1
    while True:
        for m in (1, 2, 5):
            if power * m * TICKS >= value:
                return power * m * TICKS
        power *= 10


def _opening(key: str, width: int, height: int, title: str, desc: str) -> str:
    """A chart's <svg> element with the name and description a screen reader reads."""
    return (
        f'<svg role="img" aria-labelledby="chart{key}-t chart{key}-d" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'class="chart" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart{key}-t">{escape(title)}</title>'
        f'<desc id="chart{key}-d">{escape(desc)}</desc>'
    )


def stacked_columns(
    rows: list[dict[str, object]],
    series: tuple[str, ...],
    *,
    key: str,
    label: str,
    title: str,
    desc: str,
    width: int = 760,
    height: int = 240,
) -> str:
    """Columns over time (rows: {label: "2026-11-02", series: count...}), stacked by series."""
    left, right, top, bottom = 56, 40, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    colours = {s: COLOURS.get(s) or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    totals = [sum(int(r.get(s, 0) or 0) for s in series) for r in rows]  # type: ignore[call-overload]
    peak = _nice_max(max(totals, default=0))
    parts = [_opening(key, width, height, title, desc)]
    for i in range(TICKS + 1):  # gridlines and the value axis
        value = peak * i // TICKS
        y = top + plot_h - plot_h * i / TICKS
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{INK}">{_fmt(value)}</text>'
        )
    n = max(len(rows), 1)
    slot = plot_w / n
    bar = max(min(slot * 0.7, 40), 1)
    every = max(1, round(n / 8))  # at most about eight labels along the time axis
    for i, row in enumerate(rows):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for s in series:
            value = int(row.get(s, 0) or 0)  # type: ignore[call-overload]
            if not value:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colours[s]}"><title>{escape(str(row.get(label)))}: '
                f"{_fmt(value)} {escape(s)}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'font-size="11" fill="{INK}">{escape(str(row.get(label)))}</text>'
            )
    legend_x = left
    for s in series:
        parts.append(
            f'<rect x="{legend_x}" y="{height - 14}" width="10" height="10" '
            f'fill="{colours[s]}"/>'
            f'<text x="{legend_x + 14}" y="{height - 5}" font-size="11" fill="{INK}">'
            f"{escape(s)}</text>"
        )
        legend_x += 80
    parts.append("</svg>")
    return "".join(parts)


def bars(
    items: list[tuple[str, int]],
    *,
    key: str,
    title: str,
    desc: str,
    colour: str = "#37474f",
    width: int = 760,
) -> str:
    """Horizontal bars, one per (label, value), largest first as given."""
    row_h, label_w, right = 22, 240, 70
    height = row_h * max(len(items), 1) + 8
    peak = max((v for _l, v in items), default=0) or 1
    parts = [_opening(key, width, height, title, desc)]
    for i, (label, value) in enumerate(items):
        y = 4 + i * row_h
        w = (width - label_w - right) * value / peak
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 8}" '
            f'fill="{colour}"/>'
            f'<text x="{label_w + max(w, 1) + 6:.1f}" y="{y + 15}" font-size="12" '
            f'fill="{INK}">{_fmt(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)

"""Small charts drawn on the server as inline SVG: no scripts, no external files."""

from markupsafe import Markup, escape

COLORS = ("#1f6feb", "#1a7f37", "#b35900", "#8250df")
WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 36, 10, 24, 30


def _frame(title: str, body: list[str], legend: list[tuple[str, str]]) -> Markup:
    keys = "".join(
        f'<rect x="{LEFT + i * 130}" y="6" width="10" height="10" fill="{color}"/>'
        f'<text x="{LEFT + i * 130 + 14}" y="15">{escape(name)}</text>'
        for i, (name, color) in enumerate(legend)
    )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{keys}{''.join(body)}</svg>"
    )


def _axes(labels: list[str], top_value: float) -> list[str]:
    parts = [
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="#bbb"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{_number(top_value)}</text>',
        f'<text x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end">0</text>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}" stroke="#eee"/>',
    ]
    step = max(1, len(labels) // 8)
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for index, label in enumerate(labels):
        if index % step == 0:
            x = LEFT + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    return parts


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def bar_chart(title: str, labels: list[str], series: dict[str, list[float]]) -> Markup:
    """Grouped bars, one group per label (e.g. per week), one bar per series."""
    top_value = max([v for values in series.values() for v in values] + [1])
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    body = _axes(labels, top_value)
    for s, (name, values) in enumerate(series.items()):
        color = COLORS[s % len(COLORS)]
        for index, value in enumerate(values):
            height = plot_height * value / top_value
            x = LEFT + slot * index + slot * 0.1 + bar * s
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}" fill="{color}">'
                f"<title>{escape(labels[index])}: {escape(name)} {_number(value)}</title></rect>"
            )
    legend = [(name, COLORS[i % len(COLORS)]) for i, name in enumerate(series)]
    return _frame(title, body, legend)


def line_chart(title: str, labels: list[str], series: dict[str, list[float | None]]) -> Markup:
    """Lines with dots; a missing value (None) breaks the line."""
    present = [v for values in series.values() for v in values if v is not None]
    top_value = max(present + [1])
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body = _axes(labels, top_value)
    for s, (name, values) in enumerate(series.items()):
        color = COLORS[s % len(COLORS)]
        points: list[str] = []
        for index, value in enumerate(values):
            if value is None:
                if len(points) > 1:
                    body.append(_polyline(points, color))
                points = []
                continue
            x = LEFT + slot * (index + 0.5)
            y = HEIGHT - BOTTOM - plot_height * value / top_value
            points.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                f"<title>{escape(labels[index])}: {escape(name)} {_number(value)}</title></circle>"
            )
        if len(points) > 1:
            body.append(_polyline(points, color))
    legend = [(name, COLORS[i % len(COLORS)]) for i, name in enumerate(series)]
    return _frame(title, body, legend)


def _polyline(points: list[str], color: str) -> str:
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="2"/>'


def sparkline(values: list[int], width: int = 96, height: int = 22) -> Markup:
    """A tiny bar trend (oldest left) for a table cell."""
    top_value = max(values + [1])
    slot = width / max(len(values), 1)
    bars = "".join(
        f'<rect x="{i * slot + 1:.1f}" y="{height - height * v / top_value:.1f}" '
        f'width="{slot - 2:.1f}" height="{height * v / top_value:.1f}" fill="#1f6feb"/>'
        for i, v in enumerate(values)
    )
    label = "per week, oldest first: " + ", ".join(str(v) for v in values)
    return Markup(
        f'<svg class="sparkline" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{bars}</svg>"
    )

"""The report page: one self-contained HTML file written from the figures (figures.py) alone.

No script, no external font, image or style sheet, and a Content-Security-Policy that forbids
loading any: the page makes no request when opened. Landmarks, one h1 and h2 per section,
tables with captions and header cells, charts as SVG images with a text name and description
and the same numbers in a table. Every number shown carries data-figure="<path in the JSON>"
so that a test (or a reader) can check the page against the JSON.
"""

from __future__ import annotations

from html import escape
from typing import Any

from compliance.report import charts

MAX_ROWS = 500  # rows of a long table on the page; the JSON holds them all

CSS = """
:root { color-scheme: light; --ink: #1f1f1f; --muted: #4a4a4a; --line: #c8c8c8;
  --bad: #b00020; --good: #1b5e20; --warn: #7a4a00; --panel: #f5f5f5; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; }
.skip:focus { left: .5rem; }
header, main, footer { max-width: 1040px; margin: 0 auto; padding: 0 1.25rem; }
header { border-bottom: 2px solid var(--ink); padding-top: 1rem; }
h1 { font-size: 1.6rem; margin: .2rem 0 .4rem; }
h2 {
  font-size: 1.3rem; margin: 2rem 0 .3rem; padding-top: .5rem;
  border-top: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .3rem; }
dl.meta {
  display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .5rem 0 1rem; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
nav ul {
  list-style: none; display: flex; flex-wrap: wrap; gap: .3rem 1rem; padding: 0;
  margin: .6rem 0; }
a { color: #0b57d0; }
a:focus, summary:focus { outline: 3px solid #0b57d0; outline-offset: 2px; }
.how { color: var(--muted); font-size: .9rem; max-width: 80ch; }
.cards {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: .75rem; }
.card {
  border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem;
  background: var(--panel); }
.card .big { font-size: 1.6rem; font-weight: 700; display: block; }
.card.attention { border-color: var(--bad); border-width: 2px; }
.card.attention .big { color: var(--bad); }
.card.good { border-color: var(--good); }
.alert { border: 2px solid var(--bad); padding: .6rem .8rem; font-weight: 600; }
.ok { color: var(--good); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
table { border-collapse: collapse; margin: .4rem 0 1rem; min-width: 50%; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td {
  border: 1px solid var(--line); padding: .25rem .55rem; text-align: left; vertical-align: top; }
thead th { background: var(--panel); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.chart { max-width: 760px; display: block; margin: .4rem 0; }
.wrap { overflow-x: auto; }
code { font-size: .9em; overflow-wrap: anywhere; }
footer {
  color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line); margin-top: 2rem;
  padding: 1rem 1.25rem 2rem; }
@media print {
  .skip, nav { display: none; }
  body { font-size: 11pt; }
  h2 { break-after: avoid; }
  table, .card, svg { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .wrap { overflow: visible; }
  table { font-size: 8.5pt; }
  th, td { overflow-wrap: anywhere; padding: .15rem .3rem; }
}
"""

SECTIONS = (
    ("summary", "At a glance"),
    ("trail", "The audit trail"),
    ("decisions", "Decisions"),
    ("opt-outs", "Opt-outs"),
    ("consent", "Consent"),
    ("lists", "Do-not-contact lists"),
    ("pauses", "Pauses"),
    ("repo", "The template repo"),
)


def _n(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return escape(str(value))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value):,}"
    return escape(str(value))


def fig(path: str, value: Any, tag: str = "span", cls: str = "") -> str:
    """A value shown on the page, tied to its place in the JSON."""
    klass = f' class="{cls}"' if cls else ""
    return f'<{tag}{klass} data-figure="{escape(path)}">{_n(value)}</{tag}>'


class Table:
    """A table with a caption, column headers, and rows whose first cell heads the row."""

    def __init__(self, caption: str, columns: list[str], numeric: set[int] | None = None):
        self.caption = caption
        self.columns = columns
        self.numeric = numeric or set()
        self.rows: list[str] = []
        self.hidden = 0

    def row(self, *cells: tuple[str, Any] | str | None) -> None:
        """Each cell: (path, value) for a figure, a string of HTML, or None (empty)."""
        if len(self.rows) >= MAX_ROWS:
            self.hidden += 1
            return
        out = []
        for i, cell in enumerate(cells):
            tag = "th" if i == 0 else "td"
            scope = ' scope="row"' if i == 0 else ""
            klass = ' class="n"' if i in self.numeric else ""
            if isinstance(cell, tuple):
                path, value = cell
                out.append(f'<{tag}{scope}{klass} data-figure="{escape(path)}">{_n(value)}</{tag}>')
            else:
                out.append(f"<{tag}{scope}{klass}>{'' if cell is None else cell}</{tag}>")
        self.rows.append("<tr>" + "".join(out) + "</tr>")

    def html(self, empty: str) -> str:
        if not self.rows:
            return f"<p>{escape(empty)}</p>"
        head = "".join(
            f'<th scope="col"{" class=n" if i in self.numeric else ""}>{escape(c)}</th>'
            for i, c in enumerate(self.columns)
        )
        more = (
            f"<p>{self.hidden:,} more rows are in the JSON (<code>--format json</code>).</p>"
            if self.hidden
            else ""
        )
        return (
            f'<div class="wrap" tabindex="0" role="region" aria-label="{escape(self.caption)}">'
            f"<table><caption>{escape(self.caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(self.rows)}</tbody></table></div>"
            + more
        )


def _how(text: str, period: str) -> str:
    return (
        f'<p class="how"><strong>How:</strong> {escape(text)} '
        f"<strong>Period:</strong> {escape(period)}.</p>"
    )


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _when(value: str | None) -> str:
    """An ISO 8601 instant as the page shows it, escaped: 2026-11-03 15:00 UTC."""
    return escape(_instant(value))


def _instant(value: str | None) -> str:
    """2026-11-03 15:00 UTC for 2026-11-03T15:00:00Z (the JSON keeps the instant whole)."""
    if not value:
        return ""
    import datetime as dt

    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if at.tzinfo is None:
        return at.strftime("%Y-%m-%d %H:%M")
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render(found: dict[str, Any]) -> str:
    """The whole page."""
    if found.get("error"):
        return _unreadable(found)
    meta = found["report"]
    period = meta["period"]
    since = (
        _instant(period["since"])
        if period["since"]
        else f"the start of the trail ({_instant(period['trail_starts']) or 'empty'})"
    )
    span = f"{since} to {_instant(period['until'])} (excluded)"
    state = f"as of {_instant(period['until'])}"
    body = [
        _summary(found),
        _trail(found["trail"], meta.get("newest_entry")),
        _decisions(found["decisions"], span),
        _opt_outs(found["opt_outs"], span),
        _consent(found["consent"], span, state),
        _lists(found["lists"], state),
        _pauses(found["pauses"], span, state),
        _repo(found["lint"]),
    ]
    markets = ", ".join(meta["markets"]) or "all"
    nav = "".join(f'<li><a href="#{ident}">{escape(name)}</a></li>' for ident, name in SECTIONS)
    last_day = _instant(period["until"])[:10]
    if period["until"].endswith("T00:00:00Z"):  # the period ends at midnight: name the day before
        import datetime as dt

        last_day = (dt.date.fromisoformat(last_day) - dt.timedelta(days=1)).isoformat()
    first_day = (period["since"] or period["trail_starts"] or "")[:10]
    title = f"Compliance report, {first_day} to {last_day}" if first_day else "Compliance report"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        '<a class="skip" href="#main">Skip to the report</a>'
        "<header>"
        f"<h1>{escape(title)}</h1>"
        '<dl class="meta">'
        f"<dt>Ledger</dt><dd><code>{_text(meta['ledger'])}</code> ({_text(meta['backend'])}, "
        f"schema {fig('report.schema_version', meta['schema_version'])}, subjects stored "
        f"{_text(meta['subjects'])})</dd>"
        f"<dt>Period</dt><dd>{escape(span)}</dd>"
        f"<dt>Markets</dt><dd>{escape(markets)}</dd>"
        f"<dt>Market rules from</dt><dd>{_text(meta['catalog']['source'])}"
        + (
            f" (digest <code>{_text(meta['catalog']['digest'][:16])}</code>)"
            if meta["catalog"]["digest"]
            else ""
        )
        + "</dd>"
        "<dt>Entries in the period</dt>"
        f"<dd>{fig('report.entries_in_period', meta['entries_in_period'])}</dd>"
        f"<dt>Generated</dt><dd>{_text(meta['generated_at'])} by compliance "
        f"{_text(meta['tool'])}</dd>"
        "</dl>"
        f'<nav aria-label="Sections"><ul>{nav}</ul></nav>'
        "</header>"
        f'<main id="main">{"".join(body)}</main>'
        "<footer><p>Made by <code>compliance report</code>. Subjects appear as the ledger "
        "stores them. The figures are in the JSON this page was written from "
        "(<code>compliance report --format json</code>).</p></footer>"
        "</body></html>\n"
    )


def _section(ident: str, body: str) -> str:
    name = dict(SECTIONS)[ident]
    return (
        f'<section id="{ident}" aria-labelledby="{ident}-h">'
        f'<h2 id="{ident}-h">{escape(name)}</h2>{body}</section>'
    )


def _card(label: str, value: str, note: str = "", cls: str = "") -> str:
    klass = f"card {'attention' if cls == 'bad' else cls}".strip()
    return (
        f'<div class="{klass}"><span class="big">{value}</span>{escape(label)}'
        + (f"<br><small>{note}</small>" if note else "")
        + "</div>"
    )


def _summary(found: dict[str, Any]) -> str:
    trail, dec, opt = found["trail"], found["decisions"], found["opt_outs"]
    reviews, lists = found["consent"]["reviews"], found["lists"]
    lint = found["lint"]
    cards = []
    if trail.get("verified"):
        intact = trail["ok"]
        cards.append(
            _card(
                "audit trail",
                '<span class="ok">intact</span>' if intact else '<span class="bad">broken</span>',
                f"{fig('trail.entries', trail['entries'])} "
                + ("entry" if trail["entries"] == 1 else "entries"),
                "good" if intact else "bad",
            )
        )
    cards.append(_card("decisions", fig("decisions.total", dec["total"])))
    cards.append(
        _card(
            "opt-outs",
            fig("opt_outs.total", opt["total"]),
            f"{fig('opt_outs.breached', opt['breached'])} breached a deadline",
            "bad" if opt["breached"] else "",
        )
    )
    cards.append(
        _card(
            "open reviews",
            fig("consent.reviews.open", reviews["open"]),
            fig("consent.reviews.by_age.over 7 days", reviews["by_age"]["over 7 days"])
            + " older than 7 days",
            "bad" if reviews["by_age"]["over 7 days"] else "",
        )
    )
    cards.append(
        _card(
            "stale registry checks",
            fig("lists.stale", lists["stale"]),
            "",
            "bad" if lists["stale"] else "",
        )
    )
    cards.append(_card("pauses in force", f"{len(found['pauses']['in_force']):,}"))
    if lint.get("available"):
        cards.append(
            _card(
                "lint errors",
                fig("lint.errors", lint["errors"]),
                "",
                "bad" if lint["errors"] else "",
            )
        )
    alert = ""
    if trail.get("verified") and not trail["ok"]:
        alert = (
            '<p class="alert">The audit trail does not verify'
            + (
                f" at entry {fig('trail.first_bad', trail['first_bad'])}"
                if trail.get("first_bad") is not None
                else ""
            )
            + f": {_text(trail['problem'])}. The figures below read a ledger that was changed.</p>"
        )
    return _section("summary", alert + f'<div class="cards">{"".join(cards)}</div>')


def _trail(trail: dict[str, Any], newest: dict[str, Any] | None = None) -> str:
    if not trail.get("verified"):
        return _section("trail", f"<p>{escape(trail['how'])}</p>")
    verdict = (
        '<p><span class="ok">Intact.</span></p>'
        if trail["ok"]
        else f'<p class="alert">Broken at entry {_n(trail["first_bad"])}: '
        f"{_text(trail['problem'])}</p>"
    )
    t = Table("What audit verify found", ["measure", "value"], {1})
    t.row("entries", ("trail.entries", trail["entries"]))
    t.row("chains", ("trail.chains", trail["chains"]))
    t.row("checkpoints", ("trail.checkpoints", trail["checkpoints"]))
    t.row("last checkpoint", _when(trail["last_checkpoint"]) or "none")
    t.row("entries after it", ("trail.after_checkpoint", trail["after_checkpoint"]))
    t.row("signed entries", ("trail.signed", trail["signed"]))
    t.row("signatures checked", "yes" if trail["signatures_checked"] else "no")
    t.row("verify took (seconds)", ("trail.seconds", trail["seconds"]))
    if newest:
        t.row("newest entry", ("report.newest_entry.seq", newest["seq"]))
        t.row("written at", _when(newest["at"]))
        t.row("its hash", f"<code>{_text(newest['hash'])}</code>")
    notes = "".join(f"<li>{escape(n)}</li>" for n in trail.get("notes") or [])
    return _section(
        "trail",
        _how(trail["how"], "the whole ledger, whatever the report's period")
        + verdict
        + t.html("")
        + (f"<ul>{notes}</ul>" if notes else "")
        + (
            "<p>Keep the newest entry's number and hash with the report you sign off: if "
            "the trail were later cut back or rewritten, that entry would be missing or have "
            "another hash (<code>compliance audit export</code> shows it).</p>"
            if newest
            else ""
        ),
    )


def _decisions(dec: dict[str, Any], span: str) -> str:
    parts = [_how(dec["how"], span)]
    t = Table("Decisions by outcome", ["outcome", "decisions"], {1})
    for outcome, count in dec["by_outcome"].items():
        t.row(escape(outcome), (f"decisions.by_outcome.{outcome}", count))
    t.row("total", ("decisions.total", dec["total"]))
    parts.append(t.html(""))
    over = dec["over_time"]
    if over["rows"]:
        parts.append(f"<h3>Over time, by {escape(over['bucket'])}</h3>")
        parts.append(
            charts.stacked_columns(
                [{**r, "label": r["start"]} for r in over["rows"]],
                ("allow", "defer", "deny"),
                key="time",
                label="label",
                title=f"Decisions by {over['bucket']} and outcome",
                desc=f"Stacked columns, one per {over['bucket']} starting on the date shown: "
                "allowed, deferred and denied sends. The table below holds the same numbers.",
            )
        )
        t = Table(
            f"Decisions by {over['bucket']} (starting on)",
            [over["bucket"], "allow", "defer", "deny"],
            {1, 2, 3},
        )
        for i, r in enumerate(over["rows"]):
            base = f"decisions.over_time.rows.{i}"
            t.row(
                (f"{base}.start", r["start"]),
                (f"{base}.allow", r["allow"]),
                (f"{base}.defer", r["defer"]),
                (f"{base}.deny", r["deny"]),
            )
        parts.append(t.html(""))
    markets = [r["market"] for r in dec["by_market"]]
    if over["rows"] and markets and len(markets) > 8:  # the chart: seven markets and the rest
        shown_markets = markets[:7]
        chart_rows = [
            {
                **{m: r["markets"][m] for m in shown_markets},
                "other": sum(v for m, v in r["markets"].items() if m not in shown_markets),
                "label": r["start"],
            }
            for r in over["rows"]
        ]
        series = (*shown_markets, "other")
    else:
        chart_rows = [{**r["markets"], "label": r["start"]} for r in over["rows"]]
        series = tuple(markets)
    if over["rows"] and markets:
        parts.append(f"<h3>By market over time, by {escape(over['bucket'])}</h3>")
        parts.append(
            charts.stacked_columns(
                chart_rows,
                series,
                key="markets",
                label="label",
                title=f"Decisions by {over['bucket']} and market",
                desc=f"Stacked columns, one per {over['bucket']}: the decisions judged under "
                "each market ('none': the recipient was invalid). The table below holds the "
                "same numbers.",
            )
        )
        t = Table(
            f"Decisions by {over['bucket']} and market",
            [over["bucket"], *markets],
            set(range(1, len(markets) + 1)),
        )
        for i, r in enumerate(over["rows"]):
            base = f"decisions.over_time.rows.{i}"
            t.row(
                (f"{base}.start", r["start"]),
                *((f"{base}.markets.{m}", r["markets"][m]) for m in markets),
            )
        parts.append(t.html(""))
    t = Table("Decisions by market", ["market", "allow", "defer", "deny", "total"], {1, 2, 3, 4})
    for i, r in enumerate(dec["by_market"]):
        base = f"decisions.by_market.{i}"
        t.row(
            (f"{base}.market", r["market"]),
            (f"{base}.allow", r["allow"]),
            (f"{base}.defer", r["defer"]),
            (f"{base}.deny", r["deny"]),
            (f"{base}.total", r["total"]),
        )
    parts.append("<h3>By market</h3>" + t.html("No decisions in the period."))
    if dec["by_reason"]:
        parts.append("<h3>By reason</h3>")
        parts.append(
            charts.bars(
                [(f"{r['code']} ({r['outcome']})", r["count"]) for r in dec["by_reason"][:15]],
                key="reasons",
                title="Reasons given for deny and defer",
                desc="One bar per reason code and outcome, most frequent first (at most 15); "
                "the table below holds every reason.",
            )
        )
    t = Table("Decisions by reason code", ["reason code", "outcome", "decisions"], {2})
    for i, r in enumerate(dec["by_reason"]):
        base = f"decisions.by_reason.{i}"
        t.row(
            (f"{base}.code", r["code"]),
            (f"{base}.outcome", r["outcome"]),
            (f"{base}.count", r["count"]),
        )
    parts.append(t.html("No reason was given in the period."))
    t = Table("Most denied templates", ["template", "sender", "denied"], {2})
    for i, r in enumerate(dec["top_denied_templates"]):
        base = f"decisions.top_denied_templates.{i}"
        t.row(
            (f"{base}.template", r["template"]),
            _text(r["sender"]) or "unknown",
            (f"{base}.count", r["count"]),
        )
    parts.append("<h3>Most denied</h3>" + t.html("No send was denied in the period."))
    t = Table("Most denied senders", ["sender", "denied"], {1})
    for i, r in enumerate(dec["top_denied_senders"]):
        base = f"decisions.top_denied_senders.{i}"
        t.row((f"{base}.sender", r["sender"]), (f"{base}.count", r["count"]))
    parts.append(t.html(""))
    return _section("decisions", "".join(parts))


def _opt_outs(opt: dict[str, Any], span: str) -> str:
    parts = [_how(opt["how"], span)]
    t = Table("Opt-outs in the period", ["measure", "count"], {1})
    t.row("opt-outs", ("opt_outs.total", opt["total"]))
    t.row("no send followed", ("opt_outs.honoured", opt["honoured"]))
    t.row("followed by a send", ("opt_outs.followed_by_sends", opt["followed_by_sends"]))
    t.row("breached the market's deadline", ("opt_outs.breached", opt["breached"]))
    t.row("sends after a deadline", ("opt_outs.sends_after_deadline", opt["sends_after_deadline"]))
    parts.append(t.html(""))
    t = Table(
        "Opt-outs by market",
        ["market", "deadline", "opt-outs", "no send followed", "followed by a send", "breached"],
        {2, 3, 4, 5},
    )
    for i, r in enumerate(opt["by_market"]):
        base = f"opt_outs.by_market.{i}"
        t.row(
            (f"{base}.market", r["market"]),
            _text(r["deadline"]),
            (f"{base}.opt_outs", r["opt_outs"]),
            (f"{base}.honoured", r["honoured"]),
            (f"{base}.followed_by_sends", r["followed_by_sends"]),
            (f"{base}.breached", r["breached"]),
        )
    parts.append(t.html("No opt-out in the period."))
    t = Table("Opt-outs by channel", ["channel", "opt-outs"], {1})
    for i, r in enumerate(opt["by_channel"]):
        t.row(
            (f"opt_outs.by_channel.{i}.channel", r["channel"]),
            (f"opt_outs.by_channel.{i}.count", r["count"]),
        )
    parts.append(t.html(""))
    t = Table("Opt-outs by how they were recorded", ["source", "opt-outs"], {1})
    for i, r in enumerate(opt["by_source"]):
        t.row(
            (f"opt_outs.by_source.{i}.source", r["source"]),
            (f"opt_outs.by_source.{i}.count", r["count"]),
        )
    parts.append(t.html(""))
    parts.append("<h3>Opt-outs followed by a send</h3>")
    t = Table(
        "Each opt-out that a send followed, breaches first",
        [
            "subject",
            "channel",
            "market",
            "opted out",
            "deadline",
            "sends after",
            "last send",
            "days to last send",
            "after deadline",
            "templates",
        ],
        {5, 7, 8},
    )
    for i, r in enumerate(opt["followed"]):
        base = f"opt_outs.followed.{i}"
        late = r["sends_after_deadline"]
        t.row(
            (f"{base}.subject", r["subject"]),
            _text(r["channel"]) + (f" (scope {_text(r['scope'])})" if r["scope"] else ""),
            _text(r["market"]) or "unknown",
            _when(r["opted_out_at"]),
            _when(r["deadline"]) + f"<br><small>{_text(r['deadline_rule'])}</small>",
            (f"{base}.sends_after", r["sends_after"]),
            _when(r["last_send_at"]),
            (f"{base}.days_to_last_send", r["days_to_last_send"]),
            f'<span class="bad" data-figure="{base}.sends_after_deadline">{late:,}</span> breach'
            if late
            else f'<span data-figure="{base}.sends_after_deadline">0</span>',
            _text(", ".join(r["templates"])),
        )
    parts.append(t.html("No send followed an opt-out in the period."))
    return _section("opt-outs", "".join(parts))


def _consent(con: dict[str, Any], span: str, state: str) -> str:
    parts = [_how(con["how"], state)]
    t = Table(
        "Consent in force by channel and scope",
        ["scope", "channel", "consent", "basis", "in force", "lapsed"],
        {4, 5},
    )
    for i, r in enumerate(con["subjects"]):
        base = f"consent.subjects.{i}"
        t.row(
            (f"{base}.scope", r["scope"]),
            _text(r["channel"]),
            _text(r["consent"]),
            _text(r["basis"]),
            (f"{base}.in_force", r["in_force"]),
            (f"{base}.lapsed", r["lapsed"]),
        )
    parts.append(t.html("No consent in force."))
    t = Table("In force by channel", ["channel", "subjects"], {1})
    for i, r in enumerate(con["by_channel"]):
        t.row(
            (f"consent.by_channel.{i}.channel", r["channel"]),
            (f"consent.by_channel.{i}.in_force", r["in_force"]),
        )
    parts.append(t.html(""))
    t = Table("In force by kind of consent", ["consent (basis)", "subjects"], {1})
    for i, r in enumerate(con["by_consent"]):
        t.row(
            (f"consent.by_consent.{i}.consent", r["consent"]),
            (f"consent.by_consent.{i}.in_force", r["in_force"]),
        )
    parts.append(t.html(""))
    parts.append("<h3>Expiring</h3>")
    t = Table(
        "Consent that lapses soon, by market",
        ["market", "scope", "channel", "lifetime", "within 30 days", "within 90 days"],
        {4, 5},
    )
    for i, r in enumerate(con["expiring"]):
        base = f"consent.expiring.{i}"
        t.row(
            (f"{base}.market", r["market"]),
            _text(r["scope"]),
            _text(r["channel"]),
            _text(r["lifetime"]),
            (f"{base}.within_30_days", r["within_30_days"]),
            (f"{base}.within_90_days", r["within_90_days"]),
        )
    parts.append(t.html("No consent in force has a lifetime (no scope or market sets one)."))
    parts.append(
        f"<p>Grants recorded in the period ({escape(span)}): "
        f"{fig('consent.grants_in_period', con['grants_in_period'])}, of which "
        f"{fig('consent.grants_without_capture', con['grants_without_capture'])} without the "
        "digest of the consent text the person saw.</p>"
    )
    rev = con["reviews"]
    parts.append("<h3>Replies waiting for a person</h3>" + _how(rev["how"], state))
    t = Table("Open reviews by age", ["age", "reviews"], {1})
    for age, count in rev["by_age"].items():
        t.row(escape(age), (f"consent.reviews.by_age.{age}", count))
    t.row("total", ("consent.reviews.open", rev["open"]))
    parts.append(t.html(""))
    t = Table(
        "The oldest open reviews", ["review", "subject", "channel", "received", "age (days)"], {4}
    )
    for i, r in enumerate(rev["oldest"]):
        base = f"consent.reviews.oldest.{i}"
        t.row(
            (f"{base}.id", r["id"]),
            (f"{base}.subject", r["subject"]),
            _text(r["channel"]),
            _when(r["received_at"]),
            (f"{base}.age_days", r["age_days"]),
        )
    parts.append(t.html("No reply is waiting for review."))
    return _section("consent", "".join(parts))


def _lists(lists: dict[str, Any], state: str) -> str:
    parts = [_how(lists["how"], state)]
    t = Table("Do-not-contact lists", ["list", "entries"], {1})
    for i, r in enumerate(lists["lists"]):
        t.row((f"lists.lists.{i}.list", r["list"]), (f"lists.lists.{i}.entries", r["entries"]))
    parts.append(t.html("No do-not-contact list has entries."))
    t = Table(
        "Registry checks",
        ["market", "registry", "may be", "last checked", "age (days)", "state"],
        {4},
    )
    for i, r in enumerate(lists["registries"]):
        base = f"lists.registries.{i}"
        t.row(
            (f"{base}.market", r["market"]),
            _text(r["registry"]),
            f"{_text(r['valid_for'])} old",
            _when(r["checked_at"]) or "never",
            (f"{base}.age_days", r["age_days"]) if r["age_days"] is not None else "",
            '<span class="bad">stale</span>' if r["stale"] else '<span class="ok">fresh</span>',
        )
    parts.append(t.html("No market in this report names a registry."))
    return _section("lists", "".join(parts))


def _pauses(pauses: dict[str, Any], span: str, state: str) -> str:
    parts = [_how(pauses["how"], f"in force {state}; history {span}")]
    t = Table("Pauses in force", ["target", "kind", "reason", "by", "since"])
    for i, r in enumerate(pauses["in_force"]):
        t.row(
            (f"pauses.in_force.{i}.target", r["target"]),
            _text(r["kind"]),
            _text(r["reason"]),
            _text(r["by"]),
            _when(r["since"]),
        )
    parts.append(t.html("Nothing is paused."))
    t = Table(
        "Pauses and resumes in the period", ["at", "action", "kind", "target", "reason", "by"]
    )
    for r in pauses["history"]:
        t.row(
            _when(r["at"]),
            _text(r["action"]),
            _text(r["kind"]),
            _text(r["target"]),
            _text(r["reason"]),
            _text(r["by"]),
        )
    parts.append(t.html("No pause or resume in the period."))
    return _section("pauses", "".join(parts))


def _repo(lint: dict[str, Any]) -> str:
    if not lint.get("available"):
        return _section("repo", f"<p>{escape(lint['how'])}</p>")
    parts = [_how(lint["how"], "the repo as it is now")]
    warnings = lint["warnings"]
    parts.append(
        f"<p>{fig('lint.errors', lint['errors'])} errors"
        + (f" and {fig('lint.warnings', warnings)} warnings" if warnings is not None else "")
        + ".</p>"
    )
    t = Table("Findings by market", ["market", "errors", "warnings", "info"], {1, 2, 3})
    for i, r in enumerate(lint["by_market"]):
        base = f"lint.by_market.{i}"
        t.row(
            (f"{base}.market", r["market"]),
            (f"{base}.error", r["error"]),
            (f"{base}.warning", r["warning"]),
            (f"{base}.info", r["info"]),
        )
    parts.append(t.html("No findings by market."))
    t = Table("Findings by rule", ["rule", "market", "severity", "findings"], {3})
    for i, r in enumerate(lint["by_rule"]):
        base = f"lint.by_rule.{i}"
        t.row(
            (f"{base}.rule", r["rule"]),
            _text(r["market"]) or "",
            _text(r["severity"]),
            (f"{base}.count", r["count"]),
        )
    parts.append(t.html("No findings."))
    return _section("repo", "".join(parts))


def _unreadable(found: dict[str, Any]) -> str:
    """The page for a ledger whose trail does not verify and whose entries cannot be read."""
    meta = found["report"]
    body = (
        '<p class="alert">The audit trail does not verify, and its entries cannot be read as '
        f"the gate writes them: {_text(found['error'])}. There are no figures: the ledger was "
        "changed outside the gate.</p>"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>Compliance report: the trail does not verify</title><style>{CSS}</style>"
        "</head><body><header><h1>Compliance report: the trail does not verify</h1>"
        f'<dl class="meta"><dt>Ledger</dt><dd><code>{_text(meta["ledger"])}</code></dd></dl>'
        f'</header><main id="main">{_section("summary", body)}{_trail(found["trail"])}</main>'
        "</body></html>\n"
    )

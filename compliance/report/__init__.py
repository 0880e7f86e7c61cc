"""The officer's report: `compliance report`.

figures.py reads every figure from the ledger (aggregated in the database, never row by row)
into one JSON-able dict, the `--format json` output; page.py writes the HTML page from that
dict alone, with charts.py's inline SVG. The page is a pure function of the JSON, so what a
dashboard reads and what the officer reads cannot differ.
"""

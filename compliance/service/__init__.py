"""`compliance serve`: the gate as an HTTP service (install with `pip install
"compliance[server]"`). app.py is the application, webhooks.py the providers' signatures,
schemas.py the request and response bodies, metrics.py what /metrics shows."""

"""The Jupyter Server extension: app, poller, REST handlers and the channel WebSocket."""

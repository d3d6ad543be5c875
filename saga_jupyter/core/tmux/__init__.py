"""Asking tmux: the client (one call per question), launching a worker, keeping a pane.

:mod:`.client` asks a tmux server (every call with a timeout, a circuit breaker);
:mod:`.launch` starts a worker; :mod:`.panes` keeps what a worker's pane showed, through
:mod:`.panewriter`, which writes only into the file it was given.
"""

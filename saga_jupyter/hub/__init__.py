"""The JupyterHub service: every running single-user server of a Hub in one view."""

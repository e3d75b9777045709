"""Visitrail's benchmark beside the SDKs people use today: `python -m bench` (see __main__.py)."""

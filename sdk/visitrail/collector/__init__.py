"""Visitrail's collector: a Segment-compatible HTTP tracking API (see `app.create_app`)."""

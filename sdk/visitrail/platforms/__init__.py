"""Platform adapters: one per runtime (see visitrail.platform)."""

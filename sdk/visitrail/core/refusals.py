"""What the collector's answer says it refused, and why: one reason per refusal, for one console
line each. It says so as {"error": reason} on a 4xx, {"rejected": [{"index", "reason"}]} when it
stored a batch but not every event of it (identity tokens a source requires), and
{"unverified": [...]} when it stored events whose identity token it would not accept (an expired
one, say). See collector/trust.py.
"""

import json


def reasons(text: "str | None") -> "list[str]":
    """The reasons an answer's body gives, in order; [] for any other body."""
    if not text or ('"error' not in text and '"rejected"' not in text and '"unverified"' not in text):
        return []  # most answers: {"success": true}, not worth parsing
    try:
        body = json.loads(text)
    except Exception:
        return []
    out: "list[str]" = []
    if isinstance(body, dict):
        if isinstance(body.get("error"), str):
            out.append(body["error"])
        for field in ("rejected", "unverified"):
            listed = body.get(field)
            for r in listed if isinstance(listed, list) else []:
                if isinstance(r, dict) and isinstance(r.get("reason"), str):
                    out.append(r["reason"])
    return out

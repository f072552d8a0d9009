"""Pushes one event to Herald and prints the engine's reply as JSON.

    python3 sdks/python/examples/push.py KEY [JSON]

For example, from the repository root with an engine running:

    python3 sdks/python/examples/push.py user:created '{"user_id":"u_1","email":"ada@example.com"}'

The reply holds the stored event and the runs it started. The engine is found through
HERALD_URL (default http://127.0.0.1:7420) and HERALD_TOKEN (default: ./.herald/token).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Use the SDK next to this file, so that the example runs from a clone with nothing installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import herald  # noqa: E402


def main(argv: list) -> int:
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        print("usage: push.py KEY [JSON]", file=sys.stderr)
        return 2
    key = argv[1]
    payload = {}
    if len(argv) == 3:
        try:
            payload = json.loads(argv[2])
        except ValueError as err:
            print("push.py: the payload is not valid JSON: %s" % err, file=sys.stderr)
            return 2
        if not isinstance(payload, dict):
            print("push.py: the payload must be a JSON object", file=sys.stderr)
            return 2
    try:
        with herald.Client() as client:
            res = client.event.push(key, payload)
    except herald.HeraldError as err:
        print("push.py: pushing event %r: %s" % (key, err), file=sys.stderr)
        return 1
    print(json.dumps(res.to_dict(), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Computes stats payloads with the Trends.Earth API's own StatsService, as its cache stores them.

Run with the API's Python (its dependencies installed), from tools/check-api-version.ts:

    python tools/api-golden.py --api <API checkout> --requests <requests.json> --now <ISO instant> --out <file>

<requests.json> is a list of {"key", "method", "kwargs"}: the StatsService method and arguments
that give each cache key. The API's clock is frozen at --now and its cache is off, so every
payload is computed by its code, on the database DATABASE_URL names, as of that instant. The
output maps each key to the JSON text the API's cache would hold (json.dumps(..., default=str)).
No code of the API is copied here: this only calls it.
"""

import argparse
from datetime import datetime, timezone
import json
import os
import sys


def frozen_datetime(base, instant):
    """A datetime class whose now() and utcnow() return `instant` (aware, UTC)."""

    class Frozen(base):
        @classmethod
        def now(cls, tz=None):
            return instant.astimezone(tz) if tz is not None else instant.replace(tzinfo=None)

        @classmethod
        def utcnow(cls):
            return instant.replace(tzinfo=None)

    return Frozen


class NoCache:
    """What the API's cache helper answers when Redis is away: nothing is read or kept."""

    def is_available(self):
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the API checkout (holds the gefapi package)")
    parser.add_argument("--requests", required=True)
    parser.add_argument("--now", required=True, help="ISO-8601 instant with zone")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    instant = datetime.fromisoformat(args.now.replace("Z", "+00:00")).astimezone(timezone.utc)
    sys.path.insert(0, os.path.abspath(args.api))
    # The golden entries were made with the database session in UTC: the contract's truth.
    os.environ["PGTZ"] = "UTC"

    import gefapi.services.stats_service as stats  # noqa: E402  (the API on the path first)

    stats.datetime = frozen_datetime(stats.datetime, instant)
    stats.get_redis_cache = NoCache

    with open(args.requests, encoding="utf-8") as handle:
        requests = json.load(handle)
    payloads = {}
    with stats.app.app_context():
        for request in requests:
            method = getattr(stats.StatsService, request["method"])
            payloads[request["key"]] = json.dumps(method(**request["kwargs"]), default=str)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(payloads, handle)


if __name__ == "__main__":
    main()

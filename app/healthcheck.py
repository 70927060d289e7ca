"""`python -m app.healthcheck`: exit 0 if the local server answers /healthz, else 1.

The container's HEALTHCHECK runs it: the slim image has no curl.
"""

from __future__ import annotations

import sys
import urllib.request

from app.config import Config


def main() -> int:
    port = Config.from_env().port
    try:
        # bandit's B310 is for URLs that could name a file: this one is fixed, http.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:  # nosec B310
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

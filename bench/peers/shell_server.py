"""The python-shell peer's Python side: a persistent JSON-lines server, as its README teaches.

python-shell (``mode: 'json'``) writes one JSON value per line to stdin and
parses every line this prints. Each request is ``{"id": n, "xs": [...]}``; the
answer is ``{"id": n, "result": bench_calls.seed(xs)}``.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_calls import seed  # bench/, put on the path just above

for line in sys.stdin:
    request = json.loads(line)
    print(json.dumps({"id": request["id"], "result": seed(request["xs"])}), flush=True)

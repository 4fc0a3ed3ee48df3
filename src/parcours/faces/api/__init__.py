"""The HTTP API (FastAPI; OpenAPI at /openapi.json): the report catalogue, every report with
the Query as parameters (JSON, CSV or XLSX), the facts a client needs to build a query, and
event batches through the same validation as file ingest.

Tokens come from `[api] tokens` in the workspace config (Authorization: Bearer ...). Writes
always need a "write" token; with no tokens configured reads are open, which `parcours serve`
allows on a loopback address only. Bad input is a 4xx with {"error": ...}, never a 500.

- `app`: `create_app` (the app over one workspace), `served`, `check_bind`;
- `server`: `Server`, the state every request shares (the workspace, cursors and locks, the
  kept answers, the jobs, the tokens), and the `ServerDep` and `READ`/`WRITE` dependencies;
- `errors`: the error family mapped to statuses, once; `middleware`: the body limit and the
  Host check;
- the routers, by area: `reports`, `data` (events and jobs), `audiences`, `persons` (and
  erasure), `admin` (the index and the workspace's inventory).
"""

from parcours.faces.api.app import check_bind, create_app, served
from parcours.faces.api.audiences import REFRESH_WAIT_S, AudienceBody, AudienceCondition
from parcours.faces.api.data import MAX_BATCH
from parcours.faces.api.middleware import BODY_LIMITS, LOOPBACK, BodyLimit, HostCheck
from parcours.faces.api.reports import XLSX, ReportParams
from parcours.faces.api.server import Answers, Said, Server

__all__ = ["BODY_LIMITS", "LOOPBACK", "MAX_BATCH", "REFRESH_WAIT_S", "XLSX", "Answers", "AudienceBody",
           "AudienceCondition", "BodyLimit", "HostCheck", "ReportParams", "Said", "Server", "check_bind",
           "create_app", "served"]

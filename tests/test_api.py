"""The HTTP API through FastAPI's test client, on a real DuckDB workspace (the hand-built
journeys of test_reports)."""

import csv
import io
import json

import openpyxl
import pytest
from fastapi.testclient import TestClient

from parcours.faces.api import check_bind, create_app

WRITE, READ = "w" * 20, "r" * 20


def client(ws, tokens: str = "") -> TestClient:
    if tokens:
        (ws.path / "parcours.toml").write_text(f"[api]\ntokens = [{tokens}]\n")
    return TestClient(create_app(ws.path), base_url="http://127.0.0.1")


@pytest.fixture
def api(shop):
    with client(shop) as c:
        yield c


def test_catalogue_and_meta(api):
    names = [r["name"] for r in api.get("/api/v1/reports").json()]
    assert len(names) == 13 and names[0] == "model-comparison" and names[-3:] == ["summary", "messaging", "propensity"]
    meta = api.get("/api/v1/meta").json()
    assert meta["last_reported_day"] == "2026-11-21" and meta["first_day"] == "2026-10-15"
    assert meta["channels"]["display"] == {"site1": ["(none)", "c1"], "site2": ["c2"]}  # f1 has no campaign
    assert meta["audiences"] == [] and meta["categories"] == ["bags", "shoes"]  # no audience saved
    assert meta["crm"]["segment"] == ["mass", "premium"]
    assert meta["drill"] == {"channel": "source", "source": "campaign"}
    assert "/api/v1/reports/{name}" in api.get("/openapi.json").json()["paths"]


def test_reports_with_the_query_as_parameters(api):
    r = api.get("/api/v1/reports/time-lag").json()
    assert r["totals"]["conversions"] == 5 and r["query"]["end"] == "2026-10-15" and r["figure"]["data"]
    r = api.get("/api/v1/reports/top-paths", params={"new_customer": "true", "with_channels": "display"}).json()
    assert r["totals"]["conversions"] == 2
    r = api.get("/api/v1/reports/model-comparison",
                params={"models": ["linear"], "level": "source", "parent": "channel=display"}).json()
    assert {row["row"]: round(row["linear_conversions"], 6) for row in r["table"]} == {"site1": 0.333333, "site2": 0.5}
    r = api.get("/api/v1/reports/top-paths", params={"devices": "mobile,tablet"}).json()
    assert r["totals"]["conversions"] == 4  # A, B, C (mobile), D (tablet)


def test_exports(api):
    res = api.get("/api/v1/reports/assists", params={"format": "csv", "delimiter": ";", "bom": "true"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(res.content.decode("utf-8-sig")), delimiter=";"))
    assert {r["row"] for r in rows} == {"display", "paid_search", "direct", "email", "affiliation"}
    res = api.get("/api/v1/reports/assists", params={"format": "xlsx"})
    book = openpyxl.load_workbook(io.BytesIO(res.content))
    assert book.sheetnames[:2] == ["assists", "query"]


@pytest.mark.parametrize(("url", "params", "status", "message"), [
    ("/api/v1/reports/nope", {}, 404, "unknown report"),
    ("/api/v1/reports/time-lag", {"devices": "phone"}, 400, "devices: unknown 'phone'"),
    ("/api/v1/reports/time-lag", {"level": "country"}, 400, "level must be one of"),
    ("/api/v1/reports/time-lag", {"parent": "display"}, 400, "is not level=value"),
    ("/api/v1/reports/time-lag", {"start": "yesterday"}, 422, "start"),
    ("/api/v1/reports/time-lag", {"top": "0"}, 422, "top"),
    ("/api/v1/reports/time-lag", {"colour": "red"}, 422, "colour"),
    ("/api/v1/reports/time-lag", {"start": "2026-10-02", "end": "2026-10-01"}, 400, "starts"),
    ("/api/v1/reports/model-comparison", {"models": "best"}, 400, "unknown model"),
])
def test_bad_parameters_are_4xx_with_a_message(api, url, params, status, message):
    res = api.get(url, params=params)
    assert res.status_code == status and message in res.json()["error"]


TP = dict(event_id="x1", ts="2026-10-14T10:00:00Z", visitor_id="A", channel="email")


def test_writes_need_a_write_token(shop):
    with client(shop) as c:
        assert c.post("/api/v1/touchpoints", json=[TP]).status_code == 401
    tokens = f'{{ token = "{WRITE}", scopes = ["write"] }}, {{ token = "{READ}", scopes = ["read"] }}'
    with client(shop, tokens) as c:
        assert c.get("/api/v1/reports").status_code == 401
        assert c.get("/api/v1/reports", headers={"Authorization": f"Bearer {READ}"}).status_code == 200
        assert c.get("/api/v1/meta", headers={"Authorization": f"Bearer {WRITE}"}).status_code == 200
        res = c.post("/api/v1/touchpoints", json=[TP], headers={"Authorization": f"Bearer {READ}"})
        assert res.status_code == 403 and "write scope" in res.json()["error"]


def test_a_batch_goes_through_file_validation_and_replays_add_nothing(shop):
    tokens = f'{{ token = "{WRITE}", scopes = ["read", "write"] }}'
    bad = {**TP, "event_id": "x2", "device": "phone"}
    before = shop.warehouse.count("touchpoints")
    with client(shop, tokens) as c:
        auth = {"Authorization": f"Bearer {WRITE}"}
        res = c.post("/api/v1/touchpoints", json=[TP, bad, {"event_id": "x3"}], headers=auth).json()
        assert (res["received"], res["inserted"]) == (3, 1)
        assert {(r["row"], r["field"]) for r in res["rejected"]} >= {(2, "device"), (3, "ts"), (3, "visitor_id")}
        again = c.post("/api/v1/touchpoints", json=[TP], headers=auth).json()
        assert (again["inserted"], again["already_loaded"]) == (0, 1)
        res = c.post("/api/v1/conversions", json=[{"conversion_id": "Z", "ts": "2026-10-14T11:00:00Z",
                                                   "visitor_id": "A", "categories": ["shoes"],
                                                   "attributes": {"segment": "premium"}}], headers=auth)
        assert res.status_code == 200 and res.json()["inserted"] == 1, res.json()
        assert c.post("/api/v1/touchpoints", json={"not": "a list"}, headers=auth).status_code == 422
    assert shop.warehouse.count("touchpoints") == before + 1


def test_serving_beyond_loopback_needs_tokens():
    check_bind("127.0.0.1", has_tokens=False)
    check_bind("0.0.0.0", has_tokens=True, hosts=("parcours.example.com",))
    with pytest.raises(ValueError, match="refusing to serve on 0.0.0.0 without tokens"):
        check_bind("0.0.0.0", has_tokens=False)


def test_static_files_are_versioned_cached_and_compressed(api):
    import re

    page = api.get("/reports/assists").text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+\?v=[0-9a-f]{12})"', page)
    assert len(assets) == 4  # app.css, common.js, app.js, plotly-parcours.min.js
    audiences = re.findall(r'src="(/static/[^"]+\?v=[0-9a-f]{12})"', api.get("/audiences").text)
    assert [a.split("?")[0] for a in audiences] == ["/static/common.js", "/static/audiences.js",
                                                    "/static/plotly-parcours.min.js"]
    assets += audiences
    for url in assets:
        r = api.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable"
    plotly = api.get(next(u for u in assets if "plotly" in u), headers={"Accept-Encoding": "gzip"})
    assert plotly.headers["content-encoding"] == "gzip" and plotly.text.startswith("/* plotly.js v")
    assert int(plotly.headers["content-length"]) < 600_000  # 1.4 MB as sent uncompressed
    assert "cache-control" not in api.get("/static/app.js").headers  # unversioned: revalidated


def test_the_plotly_bundle_is_the_plotly_js_of_the_plotly_package():
    """Figures are built by the plotly package for its own plotly.js: the partial bundle
    (tools/plotly) must be that version, rebuilt when the package moves."""
    import re
    from pathlib import Path

    import plotly

    from parcours.faces.web import PLOTLY_JS

    full = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()[:200]
    version = re.search(r"plotly\.js v([\d.]+)", full)[1]
    assert PLOTLY_JS.read_text()[:200].startswith(f"/* plotly.js v{version}, partial bundle")


def test_an_answer_given_again_is_fresh_once_data_lands(shop):
    """Answers are kept by data version: the same question is answered from memory, and a
    posted conversion changes the answer at once."""
    tokens = f'{{ token = "{WRITE}", scopes = ["read", "write"] }}'
    auth = {"Authorization": f"Bearer {WRITE}"}
    with client(shop, tokens) as c:
        params = {"start": "2026-10-14", "end": "2026-10-16"}
        first = c.get("/api/v1/reports/summary", params=params, headers=auth).json()
        again = c.get("/api/v1/reports/summary", params=params, headers=auth).json()
        assert again == first and first["totals"]["conversions"] == 5
        res = c.post("/api/v1/conversions", json=[{"conversion_id": "Z", "ts": "2026-10-15T11:00:00Z",
                                                   "visitor_id": "A", "revenue": 7}], headers=auth)
        assert res.json()["inserted"] == 1
        after = c.get("/api/v1/reports/summary", params=params, headers=auth).json()
        assert after["totals"]["conversions"] == 6 and after["totals"]["revenue"] == first["totals"]["revenue"] + 7
        french = c.get("/api/v1/reports/summary", params={**params, "lang": "fr"}, headers=auth).json()
        english = c.get("/api/v1/reports/summary", params=params, headers=auth).json()
        assert english["figure"] == after["figure"] != french["figure"]  # one answer, said in two languages


def test_a_question_asked_again_while_it_is_computed_is_computed_once(shop):
    """Six requests of one new question at once (a shared link): one computes it, the others
    are given its answer, not a computation each in the free slot (two would run at once)."""
    import threading

    from parcours.contract.query import Query
    from parcours.faces.api.server import Answers

    answers, query = Answers(), Query.from_params({"start": "2026-10-01", "end": "2026-10-31"})
    readers = [shop.warehouse.reader() for _ in range(6)]
    ready, got = threading.Barrier(len(readers)), []

    def ask(wh) -> None:
        ready.wait()
        with wh.snapshot():
            got.append(answers.answer("model-comparison", query, wh, shop.config))

    threads = [threading.Thread(target=ask, args=(wh,)) for wh in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and len({id(said) for said in got}) == 1 and answers.asked == {}
    for wh in readers:
        wh.close()


def test_a_body_over_the_configured_size_is_refused_with_413(shop):
    """By its Content-Length, or as a chunked body passes the limit; a small batch still loads."""
    tokens = f'{{ token = "{WRITE}", scopes = ["read", "write"] }}'
    (shop.path / "parcours.toml").write_text(f"[api]\nmax_body_mb = 0.01\ntokens = [{tokens}]\n")
    auth = {"Authorization": f"Bearer {WRITE}", "Content-Type": "application/json"}
    big = json.dumps([{**TP, "event_id": f"big-{i}"} for i in range(200)]).encode()
    assert len(big) > 0.01 * 2**20
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as c:
        res = c.post("/api/v1/touchpoints", content=big, headers=auth)
        assert res.status_code == 413 and res.json()["error"] == "the body is over 0.01 MB ([api] max_body_mb)"
        chunks = (big[i:i + 1000] for i in range(0, len(big), 1000))
        res = c.post("/api/v1/touchpoints", content=chunks, headers=auth)
        assert res.status_code == 413 and "max_body_mb" in res.json()["error"]
        small = c.post("/api/v1/touchpoints", json=[{**TP, "event_id": "small"}], headers=auth)
        assert small.status_code == 200 and small.json()["inserted"] == 1
    assert shop.warehouse.count("touchpoints") == 11  # the shop's ten and the small one


@pytest.mark.parametrize(("path", "method", "limit", "endpoint"), [
    ("/api/v1/audiences/preview", "post", 256, "/api/v1/audiences"), ("/api/v1/audiences/many", "put", 256,
                                                                      "/api/v1/audiences"),
    ("/api/v1/jobs", "post", 64, "/api/v1/jobs"), ("/api/v1/forget", "post", 4, "/api/v1/forget")])
def test_a_definition_takes_a_body_of_its_size_not_a_batch_of_events(shop, path, method, limit, endpoint):
    """Issue 28.16: an audience, a job or an erasure is a small definition: a body of 100,000
    values is refused before it is read, whatever `[api] max_body_mb` lets a batch carry."""
    tokens = f'{{ token = "{WRITE}", scopes = ["read", "write"] }}'
    (shop.path / "parcours.toml").write_text(f"[api]\ntokens = [{tokens}]\n")
    auth = {"Authorization": f"Bearer {WRITE}", "Content-Type": "application/json"}
    body = json.dumps({"when": {"attribute": "segment", "equals": [f"value-{i}" for i in range(100_000)]}})
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as c:
        for content in (body.encode(), (body[i:i + 4096].encode() for i in range(0, len(body), 4096))):
            res = getattr(c, method)(path, content=content, headers=auth)
            assert res.status_code == 413, res.text
            assert res.json()["error"] == f"the body is over {limit} KB, the most {endpoint} takes"
        small = c.post("/api/v1/audiences/preview", json={"when": {"attribute": "segment", "equals": ["a"] * 1001}},
                       headers=auth)
        assert small.status_code == 400 and "field when.equals: expected at most 1,000 values" in small.json()["error"]


def test_reports_run_side_by_side_and_answer_as_they_would_alone(shop):
    """A real server, eight clients at once on every report (the kept answers are bypassed by
    distinct periods): every request answered, each as the same request alone."""
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from parcours.faces.api import served
    from parcours.reports import CATALOGUE

    def get(url):
        with urllib.request.urlopen(url, timeout=60) as res:
            return res.status, json.loads(res.read())["totals"]

    with served(shop.path) as base:  # every period starts before the shop's first touch: same answers, not kept ones
        periodic = [name for name, r in CATALOGUE.items() if r.period]  # propensity has no period to ask
        urls = [f"{base}/api/v1/reports/{name}?start=2026-10-{day:02d}&end=2026-10-15"
                for name in periodic for day in (1, 2, 3)]
        alone = {name: get(f"{base}/api/v1/reports/{name}?start=2026-09-01&end=2026-10-15") for name in periodic}
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(get, urls))
    for url, (status, totals) in zip(urls, together, strict=True):
        name = url.split("/reports/")[1].split("?")[0]
        assert (status, totals) == alone[name], url
    assert alone["time-lag"][1]["conversions"] == 5


def test_the_messaging_report_over_http_json_csv_and_xlsx(ws):
    from builders import build_messages

    build_messages(ws)  # messages only: no build, no conversion
    with client(ws) as c:
        meta = c.get("/api/v1/meta").json()  # the facts of the messages, without a build
        assert meta["journeys"] == ["cart", "welcome"] and meta["steps"] == ["c1", "w1", "w2"]
        body = c.get("/api/v1/reports/messaging", params={"lang": "fr"}).json()
        assert [(r["journey"], r["step"]) for r in body["table"]] == [("cart", "c1"), ("welcome", "w1"),
                                                                      ("welcome", "w2")]
        assert body["headline"] == ["sends", "open_rate", "click_rate"] and body["empty"] is False
        assert body["columns"]["open_rate"] == {"label": "Taux d'ouverture", "short": "Taux d'ouverture",
                                                "unit": "share"}
        assert body["warnings"][0].startswith("Les commandes, le vrai effet")
        assert body["link"] == {"set": {"journey": "journey", "step": "step"}, "and": {"by": "recipient"}}
        people = c.get("/api/v1/reports/messaging", params={"journey": "welcome", "step": "w1", "by": "recipient",
                                                            "format": "csv"})
        rows = list(csv.DictReader(io.StringIO(people.text)))
        assert [r["recipient"] for r in rows] == ["a", "c", "d", "b"]  # most active first
        assert rows[0]["total_clicks"] == "2" and rows[0]["machine_opens"] == "1"
        book = openpyxl.load_workbook(io.BytesIO(c.get("/api/v1/reports/messaging",
                                                       params={"format": "xlsx", "lang": "en"}).content))
        assert book.sheetnames[:2] == ["messaging", "query"]
        assert book["messaging"]["A1"].value == "Journey" and book["messaging"]["D2"].value == 2  # cart's sends
        empty = c.get("/api/v1/reports/messaging", params={"journey": "nope", "lang": "en"}).json()
        assert empty["empty"] is True and empty["empty_text"].startswith("No message matches")
        bad = c.get("/api/v1/reports/messaging", params={"by": "device"})
        assert bad.status_code == 400 and "by must be one of journey, step, channel, recipient" in bad.json()["error"]
        bad = c.get("/api/v1/reports/messaging", params={"headline": "sends,nonsense"})
        assert bad.status_code == 400 and "headline" in bad.json()["error"]


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.attacker.example",
                                  "localhost.", "", "[::2]:80", "evil:1:2"])
def test_a_request_naming_another_host_is_refused(shop, host):
    """Issue 28.14 (DNS rebinding): with no token, a page of another site pointing its own name at
    this machine must not read the API; this machine's names and [api] hosts are answered."""
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as c:
        got = c.get("/api/v1/info", headers={"Host": host})
        if host == "localhost.":  # the same name, its trailing dot written
            assert got.status_code == 200
            return
        assert got.status_code == 400 and "is not one this server answers to" in got.json()["error"], got.text
        for fine in ("localhost", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
            assert c.get("/api/v1/info", headers={"Host": fine}).status_code == 200, fine
    (shop.path / "parcours.toml").write_text('[api]\nhosts = ["parcours.example.com", "10.0.0.5"]\n')
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as c:
        assert c.get("/api/v1/info", headers={"Host": "parcours.example.com:443"}).status_code == 200
        assert c.get("/api/v1/info", headers={"Host": "10.0.0.5"}).status_code == 200
        assert c.get("/api/v1/info", headers={"Host": host}).status_code == 400


def test_serving_on_every_address_needs_the_names_clients_use():
    from parcours.faces.api import check_bind

    with pytest.raises(ValueError, match=r"say the names clients reach this server by in \[api\] hosts"):
        check_bind("0.0.0.0", True)
    check_bind("0.0.0.0", True, ("parcours.example.com",))
    check_bind("10.0.0.5", True)  # its own address: the name clients use

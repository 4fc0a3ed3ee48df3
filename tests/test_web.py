"""The web pages in a real browser (Playwright driving Debian's /usr/bin/chromium) against a
live server on the hand-built journeys of test_reports."""

import csv
import io

import pytest

from parcours.faces.api import served
from parcours.reports import REPORTS

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def server(shop):
    with served(shop.path) as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    """One chromium a worker; each test browses in a context of its own (a fresh profile: no
    cookie, storage or cache of another test's), which opens in a fraction of a launch."""
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def _browsing(browser, viewport: dict):
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == []


@pytest.fixture
def page(browser):
    yield from _browsing(browser, {"width": 1300, "height": 900})


@pytest.fixture
def phone(browser):
    """A phone's width: the filters fold, the charts fit 390 pixels."""
    yield from _browsing(browser, {"width": 390, "height": 844})


def overlapping(boxes: list[dict]) -> list[tuple[int, int]]:
    """The pairs of boxes (bounding_box()) that overlap by more than a pixel."""
    def cross(a, b):
        return (min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]) > 1
                and min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]) > 1)
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if cross(boxes[i], boxes[j])]


def totals(page) -> str:
    page.wait_for_selector("#totals:has-text('conversions')")
    return page.inner_text("#totals").lower()


def unfold(page, field: str) -> None:
    """Open a list filter's box (a click on its summary would close an open one)."""
    page.eval_on_selector(f"[data-field={field}]", "box => { box.open = true; }")


@pytest.mark.parametrize("name", ["summary", *REPORTS])
def test_every_page_renders_its_chart_and_its_table(server, page, name):
    url = f"{server}/" if name == "summary" else f"{server}/reports/{name}"
    page.goto(url + "?start=2026-10-01&end=2026-10-31")
    page.wait_for_selector("#chart .main-svg")
    if name == "summary":  # its figures are tiles up front: the totals line says the period
        assert page.inner_text("#headline dt").lower().startswith("conversions")
    else:
        assert "conversions" in totals(page)
    page.click("[data-mode=expert]")
    page.wait_for_selector("table.report[data-table=table] tbody tr")
    assert "mode=expert" in page.url


def test_a_filter_changes_the_numbers(server, page):
    page.goto(f"{server}/reports/time-lag")
    assert "conversions 5" in totals(page)
    page.select_option("select[name=new_customer]", "true")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#totals:has-text('conversions 3')")
    assert "new_customer=true" in page.url
    page.reload()  # the state is in the URL
    page.wait_for_selector("#totals:has-text('conversions 3')")


def test_a_row_click_drills_down_with_a_breadcrumb(server, page):
    page.goto(f"{server}/reports/model-comparison?mode=expert&models=linear")
    page.click("table.report[data-table=table] tr.drill:has-text('Display')")
    page.wait_for_selector("table.report[data-table=table] td:text-is('site1')")
    assert "parent=channel%3Ddisplay" in page.url and "level=source" in page.url
    assert page.locator("#crumbs > *").all_inner_texts() == ["All", "Display"]
    rows = page.locator("table.report[data-table=table] tbody tr td:first-child").all_inner_texts()
    assert sorted(rows) == ["site1", "site2"]
    page.click("#crumbs a")  # back up to the channels
    page.wait_for_selector("table.report[data-table=table] td:text-is('Paid search')")


def test_an_export_downloads_a_file_that_parses(server, page):
    page.goto(f"{server}/reports/assists")
    totals(page)
    with page.expect_download() as download:
        page.click("[data-format=csv]")
    text = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))  # written for people, in the page's language
    assert {r["Channel"] for r in rows} == {"Display", "Paid search", "Direct", "Email", "Affiliation"}


def test_only_the_filters_a_page_takes_are_shown(server, page):
    page.goto(f"{server}/")
    page.wait_for_selector("main[aria-busy=false]")  # answered (today's summary of the shop is empty)
    assert not page.is_visible("select[name=level]") and page.is_visible("input[name=start]")
    page.goto(f"{server}/reports/assists")
    totals(page)
    assert page.is_visible("select[name=level]") and not page.is_visible("[data-field=models]")
    assert not page.is_visible("select[name=measure]")
    page.goto(f"{server}/reports/model-comparison")
    totals(page)
    assert page.is_visible("[data-field=models]") and page.input_value("select[name=measure]") == "conversions"


def test_french_from_the_switch(server, page):
    page.goto(f"{server}/reports/model-comparison")
    totals(page)
    page.click("[data-lang=fr]")
    page.wait_for_selector("h1:text-is('Comparaison des modèles')")
    assert page.inner_text("[data-mode=expert]") == "Mode expert" and "lang=fr" in page.url


def test_the_filter_panel_is_the_declared_query_fields(server, page):
    """One declaration: the page's fields (the form, and the breadcrumb for the drill-down)
    are the Query fields, on every page (those a report does not read are hidden)."""
    from parcours.contract.query import SPECS

    page.goto(f"{server}/reports/top-paths")
    totals(page)
    named = set(page.eval_on_selector_all("#filters [name]", "els => els.map(e => e.name)"))
    named |= set(page.eval_on_selector_all("[data-field]:not(label)", "els => els.map(e => e.dataset.field)"))
    assert named == set(SPECS)
    shown = set(page.eval_on_selector_all("#filters [data-field]:not([hidden]) [name]", "els => els.map(e => e.name)"))
    assert {"first_channel", "last_channel", "crm", "collapse", "top"} <= shown and "distinct" not in shown


def test_crm_values_of_one_attribute_are_one_filter(server, page):
    page.goto(f"{server}/reports/time-lag")
    assert "conversions 5" in totals(page)
    unfold(page, "crm")  # a folded list of ticks
    page.check("input[name=crm][value='segment=premium']")
    assert page.inner_text("[data-field=crm] .count") == "1 chosen"
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#totals:has-text('conversions 2')")  # A and C
    assert "crm=segment%3Dpremium" in page.url
    unfold(page, "crm")
    page.check("input[name=crm][value='segment=mass']")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#totals:has-text('conversions 4')")  # all but E, which has no segment
    assert "crm=segment%3Dpremium%7Cmass" in page.url or "crm=segment%3Dmass%7Cpremium" in page.url


def test_unticking_a_default_on_option_sends_it(server, page):
    page.goto(f"{server}/reports/top-paths")
    totals(page)
    assert page.is_checked("input[name=collapse]")
    page.uncheck("input[name=collapse]")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**collapse=false**")


def test_on_a_phone_the_report_comes_first_and_the_filters_fold(server, phone):
    phone.goto(f"{server}/reports/assists")
    totals(phone)
    assert not phone.is_visible("select[name=level]") and phone.is_visible("#chart .main-svg")
    phone.click("#filter-box summary")
    assert phone.is_visible("select[name=level]")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_an_empty_answer_says_so_in_place_of_the_chart(server, page, lang):
    page.goto(f"{server}/reports/velocity?start=2030-01-01&end=2030-01-02&lang={lang}")
    page.wait_for_selector("#empty:not([hidden])")
    assert not page.is_visible("#chart") and not page.is_visible("#tables")
    # why it is empty: the period starts after the last day reported (not "widen the filters")
    said = "La période commence après le dernier jour présenté" if lang == "fr" else "The period starts after"
    assert page.inner_text("#empty").startswith(said)
    assert page.inner_text("#totals") == ""  # no row of zeros under a period that is not one
    page.click("[data-mode=expert]")
    page.wait_for_selector("#empty:not([hidden])")
    assert not page.is_visible("#tables")


def test_a_value_with_a_comma_or_a_backslash_survives_the_page(server, page):
    page.goto(f"{server}/reports/time-lag?categories=shoes&categories=a%5C%2Cb")
    totals(page)
    assert page.eval_on_selector_all("input[name=categories]:checked", "els => els.map(e => e.value)") == ["shoes"]
    # the page escapes as the server splits (query.split_list)
    assert page.evaluate("splitList(escapeValue('a,b\\\\c') + ',d')") == ["a,b\\c", "d"]


def test_apply_after_a_drill_down_keeps_it_and_the_form_shows_the_state(server, page):
    page.goto(f"{server}/reports/model-comparison?mode=expert&models=linear")
    page.click("table.report[data-table=table] tr.drill:has-text('Display')")
    page.wait_for_selector("table.report[data-table=table] td:text-is('site1')")
    assert page.input_value("select[name=level]") == "source"  # the level selector follows the drill
    assert page.input_value("input[name=end]") == "2026-10-15"  # the applied period, shown
    page.select_option("select[name=new_customer]", "true")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**new_customer=true**")
    assert "parent=channel%3Ddisplay" in page.url and "level=source" in page.url
    assert "end=" not in page.url  # a default period stays a default: the link keeps rolling
    page.wait_for_selector("table.report[data-table=table] td:text-is('site1')")


def test_a_bar_that_is_not_a_row_does_not_drill(server, page):
    page.goto(f"{server}/reports/time-lag")
    totals(page)
    page.wait_for_selector("#chart .main-svg")
    boxes = [b for b in (p.bounding_box() for p in page.locator("#chart .bars .point path").all())
             if b and b["height"] > 4]
    page.mouse.click(boxes[0]["x"] + boxes[0]["width"] / 2, boxes[0]["y"] + boxes[0]["height"] / 2)
    page.wait_for_timeout(500)
    assert "parent=" not in page.url


def test_a_french_page_is_french_throughout(server, page):
    page.goto(f"{server}/reports/assists?lang=fr&mode=expert&start=2026-10-01")
    page.wait_for_selector("table.report[data-table=table] tbody tr")
    headers = page.locator("table.report[data-table=table] th").all_inner_texts()
    assert headers[:3] == ["Levier", "Conversions au dernier contact", "CA au dernier contact (EUR)"]
    assert "Accès direct" in page.locator("table.report[data-table=table] td:first-child").all_inner_texts()
    assert "120,00\u00a0€" in page.inner_text("table.report[data-table=table]")  # French money
    text = page.inner_text("#totals")
    assert text.startswith("1 oct. 2026 → 15 oct. 2026") and "Chiffre d'affaires 210,00" in text
    assert page.inner_text("#warnings").startswith("Faible volume")
    assert page.text_content("[data-field=devices] .opt:has(input[value=desktop])") == "Ordinateur"
    page.click("[data-mode=simple]")
    page.wait_for_selector("#chart .main-svg")
    assert "conversions assistées / au dernier contact" in page.inner_text("#chart")


def test_a_heatmap_cell_shows_the_journeys_of_that_device_pair(server, page):
    page.goto(f"{server}/reports/cross-device")
    page.wait_for_selector("#chart .main-svg")
    page.evaluate("""() => { const c = document.getElementById("chart");
        const d = c.data[0]; const x = d.x.indexOf("Desktop"), y = d.y.indexOf("Mobile");
        c.emit("plotly_click", {points: [{x: d.x[x], y: d.y[y], z: d.z[y][x]}]}); }""")
    page.wait_for_url("**converting_device=desktop**")
    assert "first_device=mobile" in page.url
    page.wait_for_selector("#totals:has-text('conversions 1 ·')")  # A: first touch on mobile, converted on desktop


def test_top_paths_ranks_paths_as_coloured_channel_chips(server, page):
    page.goto(f"{server}/reports/top-paths")
    page.wait_for_selector("#paths li")
    first = page.locator("#paths li").first
    assert first.locator(".chip").all_inner_texts() == ["(no touch)"]
    chips = page.locator("#paths li:has-text('Paid search') .chip").all_inner_texts()
    assert chips == ["Display", "Paid search", "Direct"]
    colours = page.eval_on_selector_all("#paths .chip", "els => els.map(e => [e.textContent, e.style.background])")
    assert len({c for name, c in colours if name == "Display"}) == 1  # one colour per channel
    assert len({c for _, c in colours}) == len({name for name, _ in colours})
    page.wait_for_selector("#chart .main-svg")  # the flow stays, under the list


def test_a_long_list_of_values_has_a_search_box(server, page):
    page.goto(f"{server}/reports/model-comparison")
    totals(page)
    assert not page.is_visible("[data-field=devices] input[type=search]")  # four devices: no need
    unfold(page, "models")
    page.fill("[data-field=models] input[type=search]", "MARK")
    assert page.locator("[data-field=models] .opt:visible").all_inner_texts() == ["Markov chain"]


def test_expert_tables_keep_their_header_and_first_column_in_view(server, page):
    page.goto(f"{server}/reports/model-comparison?mode=expert")
    page.wait_for_selector("table.report[data-table=table] tbody tr")
    sticky = page.eval_on_selector("table.report[data-table=table] th",
                                   "th => [getComputedStyle(th).position, getComputedStyle(th).top]")
    assert sticky == ["sticky", "0px"]
    assert page.eval_on_selector("table.report[data-table=table] td", "td => getComputedStyle(td).position") == "sticky"
    page.select_option("select[name=measure]", "value")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**measure=value**")
    page.wait_for_selector("table.report[data-table=table] th:has-text('Linear: revenue (EUR)')")


@pytest.mark.parametrize("name", ["summary", *REPORTS])
def test_every_page_speaks_french_down_to_its_chart(server, page, name):
    """Titles, totals, chart texts and table headers: nothing left in English."""
    from parcours.reports.labels import COLUMNS, FRENCH

    page.goto(f"{server}/reports/{name}?lang=fr&start=2026-10-01&end=2026-10-31")
    page.wait_for_selector("#chart .main-svg")
    assert page.inner_text("#totals").startswith("1 oct. 2026 → ")
    drawn = page.inner_text("#chart")
    english = [k for k, v in FRENCH.items() if v != k and " " in k and k in drawn]
    assert english == [], name
    page.click("[data-mode=expert]")
    page.wait_for_selector("table.report[data-table=table] tbody tr")
    headers = set(page.locator("table.report th").all_inner_texts())
    english = {c[0] for c in COLUMNS.values() if c[0] != c[1]} & headers
    assert english == set(), name


@pytest.fixture
def messaging(shop):
    from builders import build_messages

    build_messages(shop)
    with served(shop.path) as base:
        yield base


def test_messaging_puts_its_headline_up_front_and_a_step_opens_its_recipients(messaging, page):
    page.goto(f"{messaging}/reports/messaging?lang=fr")
    page.wait_for_selector("#chart .main-svg")
    assert page.inner_text("#totals").startswith("1 oct. 2026 →")  # from the journeys' first send to today
    tiles = page.inner_text("#headline")
    assert "Envois\n7" in tiles and "Taux d'ouverture" in tiles and "Commandes (dernier clic)\n0" in tiles
    assert "envoyés" in page.inner_text("#chart")  # the funnel's series, in French
    journeys = page.locator("select[name=journey] option").all_inner_texts()
    assert journeys == ["Tous", "cart", "welcome"]  # the sending tool's names, not the stage "Panier"
    page.click("[data-mode=expert]")
    page.wait_for_selector("table.report[data-table=table] tbody tr")
    assert not page.is_visible("#headline")
    assert page.inner_text("table.report[data-table=table] tbody tr:first-child").startswith("cart\tc1")  # as named
    page.click("table.report[data-table=table] tbody tr:has-text('w1')")
    page.wait_for_selector("table.report[data-table=table] th:has-text('Destinataire')")
    page.wait_for_selector("table.report[data-table=table] td:text-is('a')")
    assert "step=w1" in page.url and "by=recipient" in page.url and "journey=welcome" in page.url
    first = page.inner_text("table.report[data-table=table] tbody tr:first-child")
    assert first.startswith("a\t")  # the most active recipient first
    assert page.input_value("select[name=step]") == "w1" and page.input_value("select[name=by]") == "recipient"


def test_messaging_with_no_message_says_so(messaging, page):
    page.goto(f"{messaging}/reports/messaging?journey=nope&lang=en")
    page.wait_for_selector("#empty:not([hidden])")
    assert page.inner_text("#empty").startswith("No message matches this journey")
    assert not page.is_visible("#chart") and not page.is_visible("#headline")
    assert "No message matches" not in page.inner_text("#warnings")  # said once, in its place


@pytest.fixture
def audiences(three):
    """The audience page's server on build_three's persons A, B, C, and this machine's token
    (what `parcours serve` prints in its link)."""
    with served(three.path) as base:
        yield base, three.server().token


def size_says(page, text: str) -> None:
    page.wait_for_selector(f"#size:has-text('{text}')")


def test_build_a_condition_see_its_size_save_and_export_it(audiences, page, tmp_path):
    base, token = audiences
    page.goto(f"{base}/audiences?lang=en&token={token}")
    assert "token" not in page.url  # kept for the calls, out of the address bar
    page.wait_for_selector("#headline:has-text('Persons profiled')")
    assert "Persons profiled\n3" in page.inner_text("#headline")
    assert "CRM customers\n1" in page.inner_text("#headline")  # C1, linked by its site account
    assert "100% match rate" in page.inner_text("#headline")
    size_says(page, "Add a condition")
    page.click("#add")
    row = page.locator("#tests li").nth(0)
    row.locator("select.kind").select_option("touched")
    row.locator("[data-key=touched]").select_option("email")
    size_says(page, "2 persons · 66.7% of the 3 persons profiled")  # A and C
    row.locator("[data-key=within_days]").fill("7")
    size_says(page, "1 persons")  # A's email was 8 days before the cut
    row.locator("[data-key=within_days]").fill("")
    page.click("#add")
    second = page.locator("#tests li").nth(1)
    second.locator("select.kind").select_option("device")
    second.locator("[data-key=device]").select_option("desktop")
    second.locator("input.negate").check()
    size_says(page, "1 persons")  # email and not desktop: C
    assert '"not": {' in page.input_value("#json")
    page.fill("#name", "email-not-desktop")
    page.fill("#description", "Email, never on a desktop")
    page.click("#save")
    page.wait_for_selector("#saved:has-text('Saved email-not-desktop: 1 persons')")
    listed = page.locator("#list .audience[data-audience=email-not-desktop]")
    assert "1 persons" in listed.inner_text()
    with page.expect_download() as got:
        listed.locator("button[data-format=csv]").click()
    rows = list(csv.DictReader(io.StringIO(got.value.path().read_text())))
    assert [r["person_id"] for r in rows] == ["v:vc"]
    with page.expect_download() as got:
        listed.locator("button[data-format=customer-match]").click()
    assert got.value.suggested_filename == "email-not-desktop.csv"
    # read back into the builder, then deleted
    page.click("#clear")
    assert page.locator("#tests li").count() == 0
    listed.locator("button:has-text('Edit')").click()
    assert page.locator("#tests li").count() == 2 and page.input_value("#name") == "email-not-desktop"
    assert page.locator("#tests li").nth(1).locator("input.negate").is_checked()
    page.once("dialog", lambda d: d.accept())
    listed.locator("button.delete").click()
    page.wait_for_selector("#saved:has-text('Deleted email-not-desktop')")
    page.wait_for_selector("#none:not([hidden])")


def test_saving_without_a_token_asks_for_one(audiences, page):
    base, _ = audiences
    page.goto(f"{base}/audiences?lang=fr")
    page.wait_for_selector("#headline:has-text('Personnes profilées')")
    page.click("#add")
    page.locator("#tests li select.kind").select_option("customer")
    size_says(page, "1 personnes")  # C is new; A returning; B never bought
    page.fill("#name", "new")
    page.click("#save")
    page.wait_for_selector("#saved.error:has-text(\"jeton d'écriture\")")  # the server's refusal, in French
    assert page.is_visible("#token")


def test_a_nested_condition_is_edited_as_json_and_a_mistake_names_its_key(audiences, page):
    base, _ = audiences
    page.goto(f"{base}/audiences?lang=en")
    page.wait_for_selector("#headline:has-text('Persons profiled')")
    page.click("#as-json summary")
    page.fill("#json", '{"any": [{"all": [{"touched": "email"}, {"device": "mobile"}]}, {"device": "tablet"}]}')
    size_says(page, "3 persons")  # A and C (email, mobile), B (tablet)
    assert page.is_visible("#nested") and not page.is_visible("#add")
    page.fill("#json", '{"all": [{"touched": "email", "within_days": 0}]}')
    page.wait_for_selector("#size.error:has-text('Test 1 › in the last … days')")  # the row's words, not its keys
    assert page.locator("#tests li").count() == 1  # a builder's shape again: drawn as a row
    page.fill("#json", '{"all": [')
    page.wait_for_selector("#size.error:has-text('JSON')")


def test_the_audience_page_before_a_build_says_so(ws, page):
    from builders import load_rows

    load_rows(ws, "touchpoints", [{"event_id": "e", "ts": "2026-10-01T10:00:00", "visitor_id": "v",
                                   "channel": "email"}])
    with served(ws.path) as base:
        page.goto(f"{base}/audiences?lang=en")
        page.wait_for_selector("#warnings li:has-text('parcours build')")
        page.wait_for_selector("#none:not([hidden])")


@pytest.fixture
def refreshed(three):
    """The audience page's server with two audiences refreshed by a build: `emailed` (A, C)
    and `desktop` (A)."""
    from parcours.activation.audiences import Book, refresh
    from parcours.contract.conditions import Audience, parse

    book = Book(three.path, three.config)
    book.save(Audience("emailed", parse({"touched": "email"})))
    book.save(Audience("desktop", parse({"device": "desktop"})))
    refresh(three.warehouse, three.config, three.path)
    with served(three.path) as base:
        yield base


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_audience_charts_draw_sizes_and_overlaps(refreshed, page, lang):
    page.goto(f"{refreshed}/audiences?lang={lang}")
    page.wait_for_selector("#overlap .main-svg")
    page.wait_for_selector("#history .main-svg")
    cells = page.locator("#overlap text.textpoint, #overlap .heatmaplayer text").evaluate_all(
        "els => els.map((e) => e.textContent)")
    # rows by name: every desktop person (A) is emailed; of the emailed (A, C), half are desktop
    shares = ["100%", "100%", "50%", "100%"] if lang == "en" else ["100\xa0%", "100\xa0%", "50\xa0%", "100\xa0%"]
    assert cells == shares
    page.click("[data-mode=expert]")
    page.wait_for_selector("table.report[data-table=overlap] tbody tr")
    assert not page.is_visible("#charts")
    sizes = page.locator("table.report[data-table=audiences] tbody tr").all_inner_texts()
    assert [r.split("\t")[:2] for r in sizes] == [["desktop", "1"], ["emailed", "2"]]


def test_a_refused_request_leaves_only_its_reason(server, page):
    page.goto(f"{server}/reports/time-lag?lang=fr")
    page.wait_for_selector("#chart .main-svg")
    page.fill("input[name=start]", "2026-10-20")
    page.fill("input[name=end]", "2026-10-10")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#empty.error:not([hidden])")
    assert page.inner_text("#empty").startswith("La période commence")  # the server's reason, in French
    assert page.locator("#chart .main-svg").count() == 0 and not page.is_visible("#chart")
    assert page.inner_text("#totals") == "" and not page.is_visible("#headline")
    assert page.locator("#warnings li").count() == 0  # said once, in place of the report


def test_a_shared_drill_down_link_names_its_channel_in_the_breadcrumb(server, page):
    page.goto(f"{server}/reports/model-comparison?mode=expert&models=linear&level=source&parent=channel%3Dpaid_search")
    page.wait_for_selector("table.report[data-table=table] td:text-is('google')")
    assert page.locator("#crumbs > *").all_inner_texts() == ["All", "Paid search"]


def test_the_flow_table_names_each_step_s_channel(server, page):
    import re

    page.goto(f"{server}/reports/top-paths?mode=expert&lang=fr")
    page.wait_for_selector("table.report[data-table=flow] tbody tr")
    cells = page.locator("table.report[data-table=flow] tbody td").all_inner_texts()
    assert "1. Recherche payante" in cells or "2. Recherche payante" in cells
    assert [c for c in cells if re.fullmatch(r"\d+\. [a-z_]+", c)] == []


def test_on_a_phone_apply_folds_the_filters_and_brings_the_report_loading(server, phone):
    phone.goto(f"{server}/reports/time-lag")
    assert "conversions 5" in totals(phone)
    phone.click("#filter-box summary")
    phone.select_option("select[name=new_customer]", "true")
    phone.locator("#filters button[type=submit]").scroll_into_view_if_needed()
    busy, folded, top = phone.evaluate("""() => { document.getElementById("filters").requestSubmit();
        const main = document.querySelector("main");
        return [main.getAttribute("aria-busy"), !document.getElementById("filter-box").open,
                main.getBoundingClientRect().top]; }""")
    assert busy == "true" and folded and -1 < top < 200  # the report in view (to a subpixel), not a screen below
    phone.wait_for_selector("#totals:has-text('conversions 3')")
    assert phone.get_attribute("main", "aria-busy") == "false"


def test_on_a_phone_no_chart_toolbar_covers_the_legend(server, phone):
    phone.goto(f"{server}/reports/model-comparison")
    phone.wait_for_selector("#chart .main-svg")
    assert phone.locator("#chart .legend").count() == 1
    assert phone.locator("#chart .modebar-btn").count() == 0


def test_on_a_phone_every_time_lag_bucket_is_labelled_and_none_overlaps(server, phone):
    """A month of daily buckets is more than a phone's width can label: the bars are drawn sideways."""
    phone.goto(f"{server}/reports/time-lag")
    phone.wait_for_selector("main[aria-busy=false] #chart .main-svg")  # drawn, and fitted
    buckets = phone.evaluate("document.getElementById('chart')._fullLayout.yaxis._categories.length")
    labels = [b for b in (t.bounding_box() for t in phone.locator("#chart .ytick text").all()) if b]
    assert len(labels) == buckets > 16
    assert overlapping(labels) == []
    tip = phone.evaluate("document.getElementById('chart').data[0].hovertemplate")
    assert tip.index("%{y}") < tip.index("%{x:,.0f}")  # the bucket, then its conversions


def test_on_a_phone_the_flow_s_labels_stay_apart_and_in_the_chart(server, phone):
    phone.goto(f"{server}/reports/top-paths?lang=fr")
    phone.wait_for_selector("main[aria-busy=false] #chart .sankey .node-label")
    chart = phone.locator("#chart").bounding_box()
    labels = [b for b in (t.bounding_box() for t in phone.locator("#chart .node-label").all()) if b and b["width"]]
    assert len(labels) > 3 and overlapping(labels) == []
    assert all(chart["x"] <= b["x"] and b["x"] + b["width"] <= chart["x"] + chart["width"] for b in labels)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_failed_report_export_says_so(server, page, lang):
    """A refusal (here, the server busy with a build) is said where the page's warnings are."""
    page.goto(f"{server}/reports/assists?lang={lang}")
    totals(page)
    page.route("**/api/v1/reports/assists?*format=csv*", lambda route: route.fulfill(
        status=503, json={"error": "the warehouse is busy: try again in a minute"}))
    page.click("[data-format=csv]")
    said = page.locator("#warnings li.error")
    said.wait_for()
    prefix = "L'export a échoué :" if lang == "fr" else "Export failed:"
    assert said.inner_text() == f"{prefix} the warehouse is busy: try again in a minute"
    assert page.is_enabled("[data-format=csv]") and page.is_visible("#chart")  # the report stays


def test_every_api_call_of_a_report_page_says_its_language(server, page):
    asked = []
    page.on("request", lambda r: "/api/v1/" in r.url and asked.append(r.url))
    page.goto(f"{server}/reports/assists?lang=fr")
    page.wait_for_selector("#chart .main-svg")
    with page.expect_download():
        page.click("[data-format=xlsx]")
    assert len(asked) >= 6 and [u for u in asked if "lang=fr" not in u] == []


@pytest.fixture
def emailed(three):
    """The audience page's server with one saved audience, `emailed` (touched email in the last
    30 days), and the book that holds it."""
    from parcours.activation.audiences import Book
    from parcours.contract.conditions import Audience, parse

    book = Book(three.path, three.config)
    book.save(Audience("emailed", parse({"touched": "email", "within_days": 30})))
    with served(three.path) as base:
        yield base, book


def test_a_saved_condition_is_said_in_words(emailed, page):
    base, _ = emailed
    page.goto(f"{base}/audiences?lang=fr&mode=expert")
    row = page.locator("#list .audience[data-audience=emailed]")
    row.wait_for()
    said = "A touché le levier E-mail, dans les 30 derniers jours"
    assert said in row.inner_text()
    page.wait_for_selector("table.report[data-table=audiences] tbody tr")
    assert said in page.inner_text("table.report[data-table=audiences]")
    assert "touched" not in page.inner_text("main") and "parcours.toml" not in page.inner_text("main")


def test_a_failed_audience_export_says_so_by_its_row(emailed, page):
    base, book = emailed
    page.goto(f"{base}/audiences?lang=fr")
    row = page.locator("#list .audience[data-audience=emailed]")
    row.wait_for()
    book.delete("emailed")  # behind the page's back
    row.locator("button[data-format=csv]").click()
    said = row.locator(".failed")
    said.wait_for()
    assert said.inner_text().startswith("L'export a échoué : ") and "emailed" in said.inner_text()


def test_every_api_call_of_the_audience_page_says_its_language(audiences, page):
    base, _ = audiences
    asked = []
    page.on("request", lambda r: "/api/v1/" in r.url and asked.append(r.url))
    page.goto(f"{base}/audiences?lang=fr")
    page.wait_for_selector("#headline:has-text('Personnes profilées')")
    page.click("#add")
    page.locator("#tests li select.kind").select_option("customer")
    size_says(page, "1 personnes")
    assert any("/preview" in u for u in asked) and [u for u in asked if "lang=fr" not in u] == []


def test_the_chart_toolbar_is_one_png_button_above_the_legend(refreshed, page):
    page.goto(f"{refreshed}/audiences?lang=en")
    page.wait_for_selector("#history .main-svg")
    page.hover("#history .nsewdrag")  # Plotly shows its toolbar on hover
    assert page.locator("#history .modebar-btn").count() == 1
    assert overlapping([page.locator("#history .modebar").bounding_box(),
                        page.locator("#history .legend").bounding_box()]) == []

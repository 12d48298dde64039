"""The Evals page (#16): start an eval of 10 samples from the page, watch its progress advance live (no reload),
open one sample's transcript; the run is then on the suite's chart."""

import pytest
from playwright.sync_api import expect

from evals.models import EvalRun
from tests.e2e.test_ade import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Records each value the progress block shows, as htmx swaps it in (the page's own scripts are CSP-bound; the test
# context bypasses CSP to observe).
WATCH = """() => {
  window.__seen = []; window.__samePage = true;
  new MutationObserver(() => {
    const el = document.querySelector('#eval-progress');
    const v = el ? el.dataset.evalDone : undefined;
    if (v !== undefined && window.__seen[window.__seen.length - 1] !== v) window.__seen.push(v);
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def test_run_an_eval_watch_it_live_and_open_a_transcript(browser, live_server_url, alice, scripted_llm):
    base = live_server_url
    # The oracle still answers every call; each answer waits 200 ms, so the samples finish one by one while the
    # page watches (an unpaced oracle sample takes ~20 ms: they could all end before the socket opens).
    scripted_llm.queue({"delay_ms": 200, "repeat": 40})
    page = sign_in(browser, base, alice)
    page.locator("#user-menu summary").click()
    page.locator("#user-menu").get_by_role("menuitem", name="Evals").click()
    page.wait_for_url(f"{base}/evals/")
    page.evaluate(WATCH)

    page.select_option("#eval-suite", "core-memory-read")
    expect(page.locator("#suite-choice input[value='engram/oracle']")).to_be_checked()
    page.fill("#eval-samples", "10")
    page.fill("#eval-concurrency", "1")
    page.locator("#eval-run-button").click()

    expect(page.locator("#eval-results tbody tr")).to_have_count(10)
    expect(page.locator("#eval-status")).to_have_text("completed", timeout=180_000)
    expect(page.locator("#eval-count")).to_have_text("10 / 10 samples")
    seen = page.evaluate("window.__seen")
    assert page.evaluate("window.__samePage") is True  # no reload happened
    live = [int(v) for v in seen if 0 < int(v) < 10]
    assert len(set(live)) >= 2, seen  # at least two intermediate counts arrived over the socket
    assert [int(v) for v in seen] == sorted(int(v) for v in seen)
    expect(page.locator("#eval-results tbody tr[data-status=done]")).to_have_count(10)
    expect(page.locator(".eval-summary")).to_contain_text("engram/oracle: 100.0%")
    page.screenshot(path="artifacts/screenshots/evals-page.png", full_page=True)
    run = EvalRun.objects.get()
    assert (run.status, run.done, run.summary["engram/oracle"]["score"]) == ("completed", 10, 100.0)

    first = page.locator("#eval-results tbody tr").first
    question = first.locator("td").nth(3).get_attribute("title")
    first.get_by_role("link", name="Transcript").click()
    page.wait_for_selector("#ws-status.live")
    expect(page.locator("#chat, #messages, main").first).to_contain_text(question[:40])

    # the suite's chart and the recent evals now hold the run
    page.goto(f"{base}/evals/?suite=core-memory-read")
    expect(page.locator("#eval-chart g.series[data-model='engram/oracle'] circle")).to_have_count(1)
    expect(page.locator("#eval-runs")).to_contain_text("engram/oracle 100.0%")
    page.screenshot(path="artifacts/screenshots/evals-chart.png", full_page=True)

    # on a phone the page does not scroll sideways (the results table scrolls inside its card)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state())
    small = phone.new_page()
    for path in ("/evals/", f"/evals/{run.id}/"):
        small.goto(f"{base}{path}")
        assert small.evaluate("document.documentElement.scrollWidth") <= 390, path
    small.screenshot(path="artifacts/screenshots/evals-390.png", full_page=True)
    phone.close()

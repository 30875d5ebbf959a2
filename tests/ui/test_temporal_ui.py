"""What an operator sees on `make run`, in a real browser: the Temporal UI decodes payloads
through the API's codec endpoint with no token and no setting, the `state` query answers from
the Queries tab, and the API's docs render with no outside request.

The UI is opened by both names an operator types (localhost and 127.0.0.1): each is a
different browser origin for the codec endpoint's CORS rule. A failing step leaves a
screenshot in tmp/artifacts (TEST_ARTIFACTS).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect
from temporalio.client import Client

from dev.demo_directory import DEMO_CLINICIAN
from dev.harness.processes import ROOT
from tests.api.support import ADMIN, SERVICE, bearer
from tests.ui.support import ARTIFACTS, DevStack

# Bounded waits for the UI to fetch and decode (not assertions about speed).
UI_WAIT_MS = 30_000
NAMESPACE = "default"


@dataclass(frozen=True)
class Case:
    workflow_id: str
    run_id: str
    message: str

    def page(self, stack: DevStack, host: str, tab: str) -> str:
        return (
            f"{stack.ui(host)}/namespaces/{NAMESPACE}/workflows/"
            f"{self.workflow_id}/{self.run_id}/{tab}"
        )


@pytest.fixture(scope="module")
async def case(make_run: DevStack) -> Case:
    """One consultation opened through the API, as the patient portal opens it."""
    message = f"Itchy rash on the left elbow, case {uuid.uuid4().hex[:8]}."
    body = {
        "patient": {"id": "p-ui", "birth_date": "1980-05-17", "frikort": False},
        "clinician_id": DEMO_CLINICIAN,
        "recipient_id": DEMO_CLINICIAN,
        "copayment_accepted": True,
        "message": {"body": message, "attachment_ids": []},
    }
    headers = {**bearer(make_run.tokens.mint(SERVICE)), "Idempotency-Key": uuid.uuid4().hex}
    async with httpx.AsyncClient(base_url=make_run.api_url, timeout=60) as http:
        related = await http.put(
            f"/v1/patients/p-ui/relations/{DEMO_CLINICIAN}",
            json={"kind": "regular_gp", "valid_from": "2020-01-01"},
            headers=bearer(make_run.tokens.mint(ADMIN)),
        )
        assert related.status_code in (200, 201), related.text
        created = await http.post("/v1/consultations", json=body, headers=headers)
    assert created.status_code == 201, created.text
    workflow_id = f"econsultation-{created.json()['id']}"
    # Describing needs no codec: ids and statuses are not encrypted.
    client = await Client.connect(make_run.temporal_address)
    run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    return Case(workflow_id, run_id, message)


@asynccontextmanager
async def browsing(browser: Browser, name: str) -> AsyncIterator[Page]:
    """A fresh page (no stored UI settings); on failure, a screenshot of what it showed."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        yield page
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        raise
    finally:
        await context.close()


async def test_history_shows_the_message_decrypted(
    make_run: DevStack, case: Case, browser: Browser
) -> None:
    async with browsing(browser, "history") as page:
        await page.goto(case.page(make_run, "127.0.0.1", "history"))
        await expect(page.get_by_text(case.message).first).to_be_visible(timeout=UI_WAIT_MS)
        await expect(page.get_by_text("Codec Server could not connect")).to_have_count(0)


async def test_queries_tab_answers_the_state_query(
    make_run: DevStack, case: Case, browser: Browser
) -> None:
    async with browsing(browser, "queries") as page:
        await page.goto(case.page(make_run, "localhost", "query"))
        # The list of queries comes from the workflow's metadata query, itself encrypted.
        await expect(page.get_by_role("textbox", name="Query Type")).to_have_value(
            "state", timeout=UI_WAIT_MS
        )
        await page.get_by_role("button", name="Run Query").click()
        answer = page.get_by_role("textbox", name="Query Result")
        await expect(answer).to_contain_text('"awaiting_clinician"', timeout=UI_WAIT_MS)
        await expect(answer).to_contain_text(case.workflow_id.removeprefix("econsultation-"))


@asynccontextmanager
async def docs_page(stack: DevStack, browser: Browser, path: str) -> AsyncIterator[Page]:
    """The API's docs page at `path`; no request may leave for another origin meanwhile."""
    async with browsing(browser, path.strip("/")) as page:
        elsewhere: list[str] = []

        async def only_the_api(route: Route) -> None:
            if route.request.url.startswith(stack.api_url):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort()

        await page.route("**/*", only_the_api)
        await page.goto(f"{stack.api_url}{path}")
        yield page
        assert elsewhere == [], "the docs ask for assets outside the API"


async def test_swagger_ui_lists_the_operations_offline(
    make_run: DevStack, browser: Browser
) -> None:
    async with docs_page(make_run, browser, "/docs") as page:
        operation = page.get_by_text("/v1/consultations/{consultation_id}/replies", exact=True)
        await expect(operation).to_be_visible(timeout=UI_WAIT_MS)
        await expect(page.get_by_text("Create Consultation", exact=True)).to_be_visible()


async def test_redoc_lists_the_operations_offline(make_run: DevStack, browser: Browser) -> None:
    async with docs_page(make_run, browser, "/redoc") as page:
        heading = page.get_by_role("heading", name="Create Consultation")
        await expect(heading).to_be_visible(timeout=UI_WAIT_MS)


def readme_saved_queries() -> dict[str, str]:
    """The saved-query links of the operator guide's runbook, by what they are for."""
    text = (ROOT / "docs" / "guide-operator.md").read_text()
    found = re.findall(r"^- (.+?): (http://localhost:8233/\S+)$", text, flags=re.MULTILINE)
    return dict(found)


async def test_the_readme_saved_queries_filter_the_workflow_list(
    make_run: DevStack, case: Case, browser: Browser
) -> None:
    links = readme_saved_queries()
    assert set(links) == {"Overdue open cases", "One clinician's open cases"}
    # A fresh consultation of the demo clinician: open, not overdue.
    expected = {"Overdue open cases": False, "One clinician's open cases": True}
    for name, link in links.items():
        async with browsing(browser, f"saved-query-{name}") as page:
            await page.goto(link.replace("http://localhost:8233", make_run.ui()))
            listed = page.get_by_role("link", name=case.workflow_id)
            if expected[name]:
                await expect(listed).to_be_visible(timeout=UI_WAIT_MS)
            else:
                # The list has loaded (its count is shown) without the case.
                await expect(page.get_by_text(re.compile(r"\d+ Workflows?"))).to_be_visible(
                    timeout=UI_WAIT_MS
                )
                await expect(listed).to_have_count(0)

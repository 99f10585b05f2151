"""The files as a browser sees them: a real headless Chromium against the live server.

The URL under test is always the one a client gets: the ``url`` of a File object in a record's JSON,
read over HTTP with an admin's token. The browser itself carries no credential (a fresh profile): a
signed URL must load on its own, the way an ``<img src>`` in a clinic's page loads it.
"""

import io
import json
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from demo import samples
from tests.factories import FileFactory, PatientFactory, UserFactory

# serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WAIT_SECONDS = 15


@pytest.fixture
def token():
    return UserFactory(role="admin").auth_token.key


def record_files(live_server, record, token: str) -> list[dict]:
    """The ``files`` of a patient's JSON, as the API gives them over HTTP."""
    req = urllib.request.Request(f"{live_server.url}/api/patients/{record.pk}/")  # noqa: S310 (the live server)
    req.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["files"]


def navigation_status(browser) -> int:
    """The HTTP status of the page the browser shows."""
    return browser.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")


def sent_headers(browser, url: str) -> list[dict[str, str]]:
    """The request headers the browser sent for ``url`` (names in lower case), one dict per request."""
    messages = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    ids = {
        message["params"]["requestId"]
        for message in messages
        if message["method"] == "Network.requestWillBeSent" and message["params"]["request"]["url"] == url
    }
    sent: dict[str, dict[str, str]] = {request_id: {} for request_id in ids}
    for message in messages:
        if message["method"] == "Network.requestWillBeSent" and message["params"]["requestId"] in ids:
            sent[message["params"]["requestId"]].update(message["params"]["request"]["headers"])
        elif message["method"] == "Network.requestWillBeSentExtraInfo" and message["params"]["requestId"] in ids:
            # The headers as they went on the wire, cookies included.
            sent[message["params"]["requestId"]].update(message["params"]["headers"])
    return [{name.lower(): value for name, value in headers.items()} for headers in sent.values()]


def white_share(browser) -> float:
    """The share of the viewport's pixels that are white, from a screenshot."""
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L")
    return shot.point(lambda value: 255 if value >= 250 else 0).histogram()[255] / (shot.width * shot.height)


def with_altered_signature(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    last = query["signature"][-1]
    query["signature"] = query["signature"][:-1] + ("0" if last != "0" else "1")
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_patient_photo_shows_from_its_file_url(live_server, browser, screenshot, token):
    patient = PatientFactory()
    FileFactory(owner=patient, name="photo.png", content=samples.png_bytes(320, 240))
    [file] = record_files(live_server, patient, token)
    browser.get(f"{live_server.url}/healthz")  # a page of the same site, as a clinic's web app would be

    photo = browser.execute_script(
        """
        const img = document.createElement("img");
        img.alt = arguments[1];
        img.src = arguments[0];
        document.body.appendChild(img);
        return img;
        """,
        file["url"],
        file["name"],
    )
    WebDriverWait(browser, WAIT_SECONDS).until(lambda _: browser.execute_script("return arguments[0].complete", photo))
    width, height = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", photo)
    screenshot()

    assert file["url"].startswith(f"{live_server.url}/static/")
    assert width > 0
    assert (width, height) == (320, 240)
    # Nothing but the signed URL opened it: a fresh profile, no cookie, no credential on the request.
    assert browser.get_cookies() == []
    [headers] = sent_headers(browser, file["url"])
    assert "cookie" not in headers
    assert "authorization" not in headers


def test_pdf_url_opens_in_the_browser(live_server, browser, screenshot, token):
    patient = PatientFactory()
    FileFactory(owner=patient, name="lab-report.pdf", content=samples.pdf_bytes("Blood test: all clear"))
    [file] = record_files(live_server, patient, token)

    browser.get(file["url"])
    # Chromium's PDF viewer draws in a frame of its own, out of the page's DOM: wait until its white page shows.
    WebDriverWait(browser, WAIT_SECONDS).until(lambda _: white_share(browser) > 0.2)
    screenshot()

    assert browser.current_url == file["url"]
    assert browser.execute_script("return document.contentType") == "application/pdf"
    assert navigation_status(browser) == 200
    assert not browser.find_elements(By.ID, "main-frame-error")  # Chromium's own error page


def test_altered_url_is_refused(live_server, browser, screenshot, token):
    patient = PatientFactory()
    FileFactory(owner=patient, name="photo.png")
    [file] = record_files(live_server, patient, token)

    browser.get(with_altered_signature(file["url"]))
    body = browser.find_element(By.TAG_NAME, "body").text
    screenshot()

    assert navigation_status(browser) == 403
    assert body == '{"detail": "Invalid file URL signature"}'


def test_admin_file_list_loads_thumbnails_only_never_an_original(live_server, browser, screenshot):
    user = UserFactory(role="admin", is_staff=True)
    user.set_password("browser-test-password")
    user.save()
    patient = PatientFactory()
    names = {"xray.png", "lab-report.pdf", "scan.jpg"}
    # Committed (a transactional test): each file's derivatives are made once its upload commits.
    FileFactory(owner=patient, name="xray.png", content=samples.png_bytes(960, 960))
    FileFactory(owner=patient, name="lab-report.pdf", content=samples.pdf_bytes())
    FileFactory(owner=patient, name="scan.jpg", content=samples.jpeg_bytes(800, 600))

    browser.get(f"{live_server.url}/admin/login/?next=/admin/files/file/")
    browser.find_element(By.ID, "id_username").send_keys(user.username)
    browser.find_element(By.ID, "id_password").send_keys("browser-test-password")
    browser.find_element(By.CSS_SELECTOR, "#login-form [type='submit']").click()
    WebDriverWait(browser, WAIT_SECONDS).until(expected_conditions.url_to_be(f"{live_server.url}/admin/files/file/"))
    listed = {cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list .field-name")}
    images = browser.find_elements(By.CSS_SELECTOR, "#result_list img")
    for img in images:  # they load lazily: bring each into view
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda _: all(browser.execute_script("return arguments[0].complete", img) for img in images)
    )
    widths = {
        urlsplit(img.get_attribute("src")).path: browser.execute_script("return arguments[0].naturalWidth", img)
        for img in images
    }
    browser.execute_script("window.scrollTo(0, 0); document.querySelector('#changelist .results').scrollLeft = 0")
    screenshot()
    files = {path: width for path, width in widths.items() if path.startswith("/static/")}
    fetched = {urlsplit(url).path for url in requested_urls(browser) if urlsplit(url).path.startswith("/static/")}

    assert navigation_status(browser) == 200
    assert listed == names
    assert all(width > 0 for width in widths.values()), f"images that did not load: {widths}"
    assert len(files) == 3  # the photo, the scan and the PDF's first page
    assert all(path.endswith(".thumbnail.webp") for path in files), f"not thumbnails: {list(files)}"
    assert set(widths) - set(files) <= {"/assets/admin/img/icon-no.svg", "/assets/admin/img/icon-yes.svg"}  # "on hold"
    assert fetched == set(files), "the page fetched a file other than the thumbnails"


def requested_urls(browser) -> list[str]:
    """Every URL the browser fetched since the log was last read (requests the page's own policy blocked left out)."""
    messages = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    blocked = {
        m["params"]["requestId"]
        for m in messages
        if m["method"] == "Network.loadingFailed" and m["params"].get("blockedReason")
    }
    return [
        m["params"]["request"]["url"]
        for m in messages
        if m["method"] == "Network.requestWillBeSent" and m["params"]["requestId"] not in blocked
    ]


@pytest.mark.parametrize(
    ("page", "rendered"),
    [("/api/docs/", ".swagger-ui .opblock"), ("/api/redoc/", "[role='navigation'] li, .menu-content li")],
)
def test_api_docs_render_from_the_service_alone(live_server, browser, screenshot, page, rendered):
    browser.get_log("performance")  # start from an empty log

    browser.get(f"{live_server.url}{page}")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda _: browser.find_elements(By.CSS_SELECTOR, rendered))
    screenshot()

    assert "Clinic files service" in browser.page_source
    outside = [url for url in requested_urls(browser) if not url.startswith((live_server.url, "data:", "blob:"))]
    assert outside == []  # a clinic's closed network has no CDN

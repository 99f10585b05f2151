"""The admin's resumable upload widget (files/static/files/upload.js) in a real headless Chromium.

Files are chosen in the widget's file input as a person would (``send_keys`` of paths), sent by the
widget over tus to the live server's API with the admin's session, and checked where they end up:
the File rows, their SHA-256, the widget's rows.
"""

import hashlib
import threading
import time

import pytest
from django.core.signals import request_started
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from demo import samples
from files.models import File
from tests.factories import PatientFactory, UserFactory
from tests.files.pdfs import MiB, Zeros, large_pdf

# serialized_rollback: a transactional test flushes the tables, the role groups of the data migration with them.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WAIT_SECONDS = 30
PASSWORD = "browser-test-password"
WIDGET = "[data-files-upload]"


def staff_user(role: str):
    user = UserFactory(role=role, is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(browser, live_server, user, page: str) -> None:
    browser.get(f"{live_server.url}/admin/login/?next={page}")
    browser.find_element(By.ID, "id_username").send_keys(user.username)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form [type='submit']").click()
    WebDriverWait(browser, WAIT_SECONDS).until(expected_conditions.url_to_be(f"{live_server.url}{page}"))


def change_page(record) -> str:
    return f"/admin/patients/patient/{record.pk}/change/"


def choose(browser, paths, category: str = "document") -> None:
    """Pick ``category`` and the files at ``paths`` in the widget, and start the upload."""
    widget = browser.find_element(By.CSS_SELECTOR, WIDGET)
    widget.find_element(By.CSS_SELECTOR, f"[data-files-upload-type] option[value='{category}']").click()
    widget.find_element(By.CSS_SELECTOR, "[data-files-upload-input]").send_keys("\n".join(str(p) for p in paths))
    widget.find_element(By.CSS_SELECTOR, "[data-files-upload-start]").click()


def rows(browser) -> list:
    return browser.find_elements(By.CSS_SELECTOR, "[data-files-upload-list] li")


def wait_until_finished(browser, count: int) -> list:
    """The widget's ``count`` rows once each is done or failed."""
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda _: (
            len(rows(browser)) == count
            and all(row.get_attribute("data-state") in {"done", "failed"} for row in rows(browser))
        )
    )
    return rows(browser)


def progress(row) -> tuple[float, float]:
    bar = row.find_element(By.TAG_NAME, "progress")
    return float(bar.get_attribute("value")), float(bar.get_attribute("max"))


@pytest.fixture
def big_pdf(tmp_path):
    """A valid PDF of some 12 MiB: three chunks of the widget's 5 MiB."""
    return large_pdf(
        tmp_path / "scan.pdf",
        {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"}
        | {3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>", 4: Zeros(12 * MiB)},
    )


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(samples.png_bytes(320, 240))
    return path


@pytest.fixture
def requests_seen():
    """What the live server (this process's threads) was sent: each request's method, path and ``Upload-Offset``;
    and each one's ``Upload-Checksum``."""
    seen, checksums, lock = [], [], threading.Lock()

    def remember(sender, environ, **kwargs):
        with lock:
            seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("HTTP_UPLOAD_OFFSET")))
            checksums.append(environ.get("HTTP_UPLOAD_CHECKSUM"))

    request_started.connect(remember)
    yield seen, checksums
    request_started.disconnect(remember)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_admin_uploads_several_files_resumably_with_progress(
    live_server, browser, screenshot, big_pdf, photo, requests_seen
):
    patient, admin = PatientFactory(), staff_user("admin")
    log_in(browser, live_server, admin, change_page(patient))

    choose(browser, [big_pdf, photo], category="report")
    finished = wait_until_finished(browser, 2)
    # The page's list of the record's files is read again once the uploads are over.
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda _: (
            {"scan.pdf", "photo.png"}
            <= {cell.text for cell in browser.find_elements(By.CSS_SELECTOR, ".inline-group .field-name")}
        )
    )
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.CSS_SELECTOR, WIDGET))
    screenshot()

    assert [row.get_attribute("data-state") for row in finished] == ["done", "done"]
    assert all(value == maximum for value, maximum in map(progress, finished))
    stored = {file.name: file for file in File.objects.filter(entity_id=patient.pk)}
    assert set(stored) == {"scan.pdf", "photo.png"}
    assert stored["scan.pdf"].sha256 == sha256(big_pdf)
    assert stored["photo.png"].sha256 == sha256(photo)
    assert {file.category for file in stored.values()} == {"report"}
    assert {file.uploaded_by for file in stored.values()} == {admin}
    links = {
        row.get_attribute("data-file-id"): row.find_element(By.TAG_NAME, "a").get_attribute("href") for row in finished
    }
    assert links == {str(file.pk): f"{live_server.url}/admin/files/file/{file.pk}/change/" for file in stored.values()}
    seen, checksums = requests_seen
    patches = [checksum for (method, _, _), checksum in zip(seen, checksums, strict=True) if method == "PATCH"]
    assert len(patches) == 4  # the PDF's three chunks, the photo's one
    assert all(checksum.startswith("sha256 ") for checksum in patches)  # 127.0.0.1: the browser can hash


def test_upload_survives_a_lost_connection_and_resumes_from_the_servers_offset(
    live_server, browser, screenshot, big_pdf, requests_seen
):
    patient = PatientFactory()
    log_in(browser, live_server, staff_user("admin"), change_page(patient))
    # Slow enough (1 MiB/s up) that the connection can be cut while the file is on its way.
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": MiB}
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", slow)
    try:
        choose(browser, [big_pdf])
        [row] = rows(browser)
        # Cut off once the first chunk is stored and the second is on its way.
        WebDriverWait(browser, WAIT_SECONDS, poll_frequency=0.05).until(lambda _: progress(row)[0] > 6 * MiB)
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**slow, "offline": True})
        WebDriverWait(browser, WAIT_SECONDS).until(lambda _: row.get_attribute("data-state") == "retrying")
        screenshot("offline")
        time.sleep(1.5)
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", slow)
        wait_until_finished(browser, 1)
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
    screenshot()

    assert row.get_attribute("data-state") == "done"
    [file] = File.objects.filter(entity_id=patient.pk)
    assert file.sha256 == sha256(big_pdf)
    tus = [(method, offset) for method, path, offset in requests_seen[0] if "/uploads/" in path]
    methods = [method for method, _ in tus]
    assert methods.count("POST") == 1  # one upload, never started again
    assert "HEAD" in methods[2:]  # after the lost chunk, the widget asked the server what it kept
    resumed_at = int(tus[methods.index("HEAD", 2) + 1][1])
    assert resumed_at >= 5 * MiB  # and went on from there, not from zero


def test_refused_file_shows_the_apis_reason(live_server, browser, screenshot, tmp_path):
    patient = PatientFactory()
    hostile = tmp_path / "invoice.pdf"
    hostile.write_bytes(b"<html><script>alert(document.cookie)</script></html>")
    log_in(browser, live_server, staff_user("admin"), change_page(patient))

    choose(browser, [hostile])
    [row] = wait_until_finished(browser, 1)
    status = row.find_element(By.CSS_SELECTOR, ".files-upload-status").text
    screenshot()

    assert row.get_attribute("data-state") == "failed"
    assert status.startswith("Not stored: ")
    assert "(unsupported_file_type)" in status
    assert not File.objects.exists()


def test_user_without_the_upload_right_gets_no_widget(live_server, browser, screenshot):
    patient = PatientFactory()
    user = staff_user("patient")  # views their own record and its files, uploads nothing
    patient.user = user
    patient.save()
    browser.get_log("performance")

    log_in(browser, live_server, user, change_page(patient))
    screenshot()

    assert browser.find_elements(By.CSS_SELECTOR, "#content-main")
    assert browser.find_elements(By.CSS_SELECTOR, WIDGET) == []
    assert "files/upload.js" not in browser.page_source

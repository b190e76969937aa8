"""Fixtures for the browser suites: headless Chromium with WebGPU, a static server, and harness pages.

Reuse them from any test in tests/browser/:

- ``browser``: one headless Chromium for the session (WebGPU through SwiftShader; see harness.CHROMIUM_ARGS).
- ``web_server``: a ``harness.StaticServer`` on http://127.0.0.1:<port> serving a fresh temp folder, with
  the runtime (web/src) at ``/runtime/`` and ``/harness.html``. Copy bundles and pages under
  ``web_server.root`` and open them at ``web_server.url("...")``.
- ``page``: a new page on the harness, with ``window.harness`` ready. Console errors and uncaught page
  errors fail the test; a test that expects some calls ``page_errors.allow(r"regex")``.
- ``harness``: ``harness.Harness(page)``: ``run(url, backend, inputs)``, ``load_error(url)``,
  ``require_webgpu()``, ``cpu_kernel_names()``.
- ``shared_page``: one harness page for a whole test module, ``(Harness, PageErrors)``; errors are checked
  when the module ends.
- ``open_harness_page(browser, server)`` (a plain function) makes the same page for wider scopes.
- ``new_context(**options)``: a fresh browser profile (service workers, caches, a phone's viewport and touch)
  whose pages fail the test on errors.

A missing Chromium fails the run with how to install it; it is never skipped.
"""
import pytest

from tests.browser.harness import (CHROMIUM_ARGS, Harness, PageErrors, StaticServer, find_chromium, open_harness_page,
                                   watch)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = find_chromium(playwright)
        if path is None:
            pytest.fail("no Chromium found for the browser tests: install one (Debian/Ubuntu: apt-get install "
                        "chromium), or point PYML_CHROMIUM at a Chromium binary", pytrace=False)
        chromium = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def web_server(tmp_path_factory):
    server = StaticServer(tmp_path_factory.mktemp("www")).start()
    server.install_runtime()
    server.install_harness()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page_errors():
    return PageErrors()


@pytest.fixture
def page(browser, web_server, page_errors):
    page, _ = open_harness_page(browser, web_server, page_errors)
    try:
        yield page
    finally:
        page.close()
    page_errors.check()


@pytest.fixture
def harness(page):
    return Harness(page)


@pytest.fixture(scope="module")
def shared_page(browser, web_server):
    """One harness page for every test of a module: ``(Harness, PageErrors)``."""
    page, errors = open_harness_page(browser, web_server)
    try:
        yield Harness(page), errors
    finally:
        page.close()
    errors.check()


@pytest.fixture
def new_context(browser, page_errors):
    """``new_context(**options)``: a fresh browser profile (its own service workers and caches; Playwright's
    ``browser.new_context`` options, e.g. ``is_mobile=True, has_touch=True``) whose pages record their errors,
    which fail the test. Closed when the test ends."""
    contexts = []

    def make(**options):
        context = browser.new_context(**options)
        context.set_default_timeout(60_000)
        context.on("page", lambda page: watch(page, page_errors))
        contexts.append(context)
        return context

    try:
        yield make
    finally:
        for context in contexts:
            context.close()
    page_errors.check()

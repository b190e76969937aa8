"""``pyml serve`` against hostile requests: it listens on 127.0.0.1 unless told, never serves a file outside its
folder (raw, percent-encoded and double-encoded "..", absolute paths, symlinks out), and sends each file type with
the MIME type a browser needs to run it."""
import http.client
import threading

import pytest

from pyml import cli

SECRET = b"secret outside the served folder"


@pytest.fixture
def site(tmp_path):
    """``tmp_path/site`` served on a free port, with a secret beside it and symlinks pointing out of it."""
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<!doctype html>")
    (root / "sub" / "a.txt").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / "out-file").symlink_to(tmp_path / "secret.txt")
    (root / "out-dir").symlink_to(tmp_path)
    (root / "in-link").symlink_to(root / "sub" / "a.txt")  # a symlink that stays inside is fine
    server = cli.make_server(root, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, tmp_path
    server.shutdown()
    server.server_close()


def request(server, raw_path, method="GET"):
    """Send ``raw_path`` byte for byte (no client-side normalization, unlike urllib); (status, headers, body)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        connection.putrequest(method, raw_path, skip_host=False, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


TRAVERSALS = ["/../secret.txt", "/../../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt",
              "/%2E%2E/secret.txt", "/.%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
              "/sub/%2e%2e%2f%2e%2e%2fsecret.txt", "/%252e%252e/secret.txt", "/%252e%252e%252fsecret.txt",
              "/..%5csecret.txt", "/..\\secret.txt", "//../secret.txt", "/./../secret.txt", "/%2e%2e%00/secret.txt",
              "/out-file", "/out-dir/secret.txt", "/out-dir/site/../secret.txt", "/%6fut-file"]


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_no_request_reaches_a_file_outside_the_folder(site, path, method):
    server, _ = site
    status, _, body = request(server, path, method)
    assert status in (400, 404), (path, status)
    assert SECRET not in body


def test_absolute_paths_and_absolute_urls_stay_inside_the_folder(site):
    server, outside = site
    for path in [str(outside / "secret.txt"), f"//{outside}/secret.txt", f"http://evil.example{outside}/secret.txt",
                 "file://" + str(outside / "secret.txt")]:
        status, _, body = request(server, path)
        assert status == 404 and SECRET not in body, (path, status)


def test_paths_that_stay_inside_are_served(site):
    server, _ = site
    for path in ["/index.html", "/sub/a.txt", "/sub/../index.html", "/%73ub/a.txt", "/in-link"]:
        status, _, body = request(server, path)
        assert status == 200 and body in (b"<!doctype html>", b"inside"), (path, status)


def test_listens_on_loopback_unless_told():
    parser = cli.build_parser()
    assert parser.parse_args(["serve", "site"]).host == "127.0.0.1"
    assert parser.parse_args(["demo", "digits"]).host == "127.0.0.1"
    assert parser.parse_args(["serve", "site", "--host", "0.0.0.0"]).host == "0.0.0.0"


def test_make_server_binds_loopback_by_default(tmp_path):
    server = cli.make_server(tmp_path, port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


MIME = {"a.js": "text/javascript", "a.mjs": "text/javascript", "k.wasm": "application/wasm",
        "model.json": "application/json", "weights.bin": "application/octet-stream", "k.wgsl": "text/wgsl",
        "index.html": "text/html", "a.css": "text/css", "i.svg": "image/svg+xml", "i.png": "image/png",
        "site.webmanifest": "application/manifest+json"}


@pytest.mark.parametrize("name, mime", sorted(MIME.items()))
def test_each_file_type_has_the_mime_type_browsers_need_and_no_sniffing(tmp_path, name, mime):
    (tmp_path / name).write_bytes(b"x")
    server = cli.make_server(tmp_path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, headers, _ = request(server, "/" + name)
        assert status == 200 and headers["Content-Type"].split(";")[0] == mime
        assert headers["X-Content-Type-Options"] == "nosniff"
    finally:
        server.shutdown()
        server.server_close()

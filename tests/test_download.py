"""course_lib.download against a real HTTP server on 127.0.0.1 (no internet), with archives built from real
photographs of the data mirror (../shared/data, never copied into the repo)."""

import errno
import hashlib
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

import course_lib.download as dl
from course_lib.download import (
    download_url,
    DownloadError,
    NetworkError,
    HTTPStatusError,
    TruncatedDownload,
    ChecksumMismatch,
    DiskFullError,
)
from course_lib.extract import safe_extract, archive_top_folder
from conftest import TOP, CHUNK


# ---------------------------------------------------------------- the HTTP server
class Handler(BaseHTTPRequestHandler):
    "Serves server.files; honours Range unless server.ignore_range; obeys server.drop_after / statuses / corrupt."

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        rng = self.headers.get('Range')
        entry = dict(path=self.path, range=rng, status=None, sent=0)
        srv.log.append(entry)
        if srv.stall:
            time.sleep(srv.stall)  # a server that accepts but never answers in time
        if srv.statuses:  # forced status for this request (503, ...)
            entry['status'] = srv.statuses.pop(0)
            return self.send_error(entry['status'])
        body = srv.files.get(self.path)
        if body is None:
            entry['status'] = 404
            return self.send_error(404)
        if srv.corrupt:  # flip 64 bytes in the middle
            mid = len(body) // 2
            body = body[:mid] + bytes(b ^ 0xFF for b in body[mid : mid + 64]) + body[mid + 64 :]
        start, end = 0, len(body) - 1
        m = re.fullmatch(r'bytes=(\d+)-(\d*)', rng or '')
        if m and not srv.ignore_range:
            start = int(m.group(1))
            if m.group(2):
                end = min(int(m.group(2)), end)
            if start >= len(body):
                entry['status'] = 416
                self.send_response(416)
                self.send_header('Content-Range', f'bytes */{len(body)}')
                self.send_header('Content-Length', '0')
                return self.end_headers()
            entry['status'] = 206
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{end}/{len(body)}')
        else:
            entry['status'] = 200
            self.send_response(200)
        data = body[start : end + 1]
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if srv.drop_after:
            data = data[: srv.drop_after.pop(0)]  # announce everything, send less, hang up
        for i in range(0, len(data), 8192):
            self.wfile.write(data[i : i + 8192])
            entry['sent'] += len(data[i : i + 8192])


@pytest.fixture
def server(archive):
    srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, client_address: None  # clients that hang up are part of the tests
    srv.files, srv.log, srv.drop_after, srv.statuses = {f'/{TOP}.tgz': archive.data}, [], [], []
    srv.ignore_range = srv.corrupt = False
    srv.stall = 0
    srv.url = f'http://127.0.0.1:{srv.server_address[1]}/{TOP}.tgz'
    th = threading.Thread(target=srv.serve_forever, kwargs=dict(poll_interval=0.02), daemon=True)
    th.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    th.join(5)


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch):
    monkeypatch.setattr(dl, 'RETRY_WAIT', 0.0)


def part_of(dest):
    return dest.with_name(dest.name + '.part')


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if '.extracting-' in p.name)


# ---------------------------------------------------------------- downloads
def test_full_download_verify_extract(server, archive, tmp_path):
    dest = tmp_path / 'dl' / f'{TOP}.tgz'
    out = download_url(
        server.url, dest, expected_size=len(archive.data), sha256=archive.sha, progress=False, chunk_size=CHUNK
    )
    assert out == dest and dest.read_bytes() == archive.data and not part_of(dest).exists()
    assert [(e['range'], e['status'], e['sent']) for e in server.log] == [(None, 200, len(archive.data))]
    # a finished, verified download is returned without asking the server again
    assert download_url(server.url, dest, expected_size=len(archive.data), sha256=archive.sha, progress=False) == dest
    assert len(server.log) == 1
    assert archive_top_folder(dest) == TOP
    root = safe_extract(dest, tmp_path / 'datasets', progress=False)
    assert root == tmp_path / 'datasets' and sorted(p.name for p in root.iterdir()) == [TOP]
    got = sorted(str(p.relative_to(root)) for p in root.rglob('*.JPEG'))
    assert got == sorted(archive.names)
    for p in root.rglob('*.JPEG'):
        with Image.open(p) as im:
            im = im.convert('RGB')
            im.load()
            assert im.size == (224, 224)  # the mirror's Imagenette copies are 224 x 224
    assert leftovers(tmp_path) == []


def test_interrupted_download_resumes_with_range(server, archive, tmp_path):
    n = len(archive.data)
    dest = tmp_path / f'{TOP}.tgz'
    server.drop_after = [int(n * 0.6)]
    with pytest.raises(TruncatedDownload) as ei:
        download_url(server.url, dest, expected_size=n, sha256=archive.sha, progress=False, chunk_size=CHUNK, retries=0)
    first = server.log[0]['sent']
    assert 0 < first < n
    assert part_of(dest).stat().st_size == first == ei.value.got and not dest.exists()
    assert str(part_of(dest)) in str(ei.value) and 'resume' in str(ei.value)
    download_url(server.url, dest, expected_size=n, sha256=archive.sha, progress=False, chunk_size=CHUNK)
    second = server.log[1]
    assert second['range'] == f'bytes={first}-' and second['status'] == 206
    assert second['sent'] == n - first and second['sent'] < first < n  # fewer bytes the second time
    assert dest.read_bytes() == archive.data and not part_of(dest).exists()


@pytest.mark.parametrize('pad', [0, 1, 2, 3])
def test_dropped_connections_are_retried_by_resuming(server, archive, tmp_path, pad):
    # every residue of the size mod 4 (tar headers make the archive's size vary between machines); download_url
    # only verifies bytes, so trailing padding is fine here
    data = archive.data + b'\0' * ((pad - len(archive.data)) % 4)
    assert len(data) % 4 == pad
    server.files[f'/{TOP}.tgz'] = data
    n, q, dest = len(data), len(data) // 4, tmp_path / 'a.tgz'
    server.drop_after = [q, q]  # each of the first two connections sends q bytes, then hangs up
    download_url(server.url, dest, sha256=hashlib.sha256(data).hexdigest(), progress=False, chunk_size=CHUNK, retries=3)
    assert [e['range'] for e in server.log] == [None, f'bytes={q}-', f'bytes={2 * q}-']
    assert [e['sent'] for e in server.log] == [q, q, n - 2 * q]
    assert dest.read_bytes() == data


def test_server_that_ignores_range_restarts_cleanly(server, archive, tmp_path):
    n, dest = len(archive.data), tmp_path / 'a.tgz'
    part_of(dest).write_bytes(archive.data[: n // 3])
    server.ignore_range = True
    download_url(server.url, dest, expected_size=n, sha256=archive.sha, progress=False, chunk_size=CHUNK)
    assert [(e['range'], e['status'], e['sent']) for e in server.log] == [(f'bytes={n // 3}-', 200, n)]
    assert dest.read_bytes() == archive.data  # not the old third followed by the whole file


def test_complete_part_gets_416_and_is_verified(server, archive, tmp_path):
    n, dest = len(archive.data), tmp_path / 'a.tgz'
    part_of(dest).write_bytes(archive.data)
    download_url(server.url, dest, sha256=archive.sha, progress=False)
    assert [(e['range'], e['status'], e['sent']) for e in server.log] == [(f'bytes={n}-', 416, 0)]
    assert dest.read_bytes() == archive.data and not part_of(dest).exists()


def test_404_raises_http_status_error(server, tmp_path):
    url = server.url.replace(TOP, 'no-such-archive')
    with pytest.raises(HTTPStatusError) as ei:
        download_url(url, tmp_path / 'x.tgz', progress=False)
    e = ei.value
    assert e.status == 404 and '404' in str(e) and url in str(e) and 'COURSE_DATA_MIRROR' in str(e)
    assert len(server.log) == 1  # a 404 is not retried
    assert list(tmp_path.iterdir()) == []


def test_server_errors_are_retried_then_reported(server, archive, tmp_path):
    server.statuses = [503]
    download_url(server.url, tmp_path / 'a.tgz', sha256=archive.sha, progress=False, retries=1)
    assert [e['status'] for e in server.log] == [503, 200]
    server.log.clear()
    server.statuses = [503, 503]
    with pytest.raises(HTTPStatusError) as ei:
        download_url(server.url, tmp_path / 'b.tgz', progress=False, retries=1)
    assert ei.value.status == 503 and len(server.log) == 2


def test_connection_refused_raises_network_error(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on any more
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    url = f'http://127.0.0.1:{port}/{TOP}.tgz'
    with pytest.raises(NetworkError) as ei:
        download_url(url, tmp_path / 'x.tgz', progress=False, retries=1, timeout=5)
    msg = str(ei.value)
    assert url in msg and 'refused' in msg and 'COURSE_DATA_MIRROR' in msg
    assert isinstance(ei.value, DownloadError) and isinstance(ei.value, RuntimeError)
    assert list(tmp_path.iterdir()) == []


def test_timeout_raises_network_error(server, tmp_path):
    server.stall = 5.0  # the answer would come after 5 s; the 0.2 s timeout must fire long before
    t0 = time.perf_counter()
    with pytest.raises(NetworkError, match='timed out after 0.2 s') as ei:
        download_url(server.url, tmp_path / 'a.tgz', progress=False, timeout=0.2, retries=0)
    assert time.perf_counter() - t0 < 3 and server.url in str(ei.value) and 'COURSE_DATA_MIRROR' in str(ei.value)
    assert list(tmp_path.iterdir()) == []


def test_truncated_without_retries(server, archive, tmp_path):
    n, dest = len(archive.data), tmp_path / 'a.tgz'
    server.drop_after = [5000, 5000, 5000]  # the server hangs up early every time
    with pytest.raises(TruncatedDownload) as ei:
        download_url(server.url, dest, progress=False, chunk_size=CHUNK, retries=2)
    e = ei.value
    assert (e.got, e.expected) == (15000, n) and f'{n:,}' in str(e) and server.url in str(e)
    assert [x['range'] for x in server.log] == [None, 'bytes=5000-', 'bytes=10000-']  # each retry resumed
    assert part_of(dest).read_bytes() == archive.data[:15000] and not dest.exists()


def test_checksum_mismatch_keeps_the_bytes_and_next_call_starts_clean(server, archive, tmp_path):
    dest = tmp_path / 'a.tgz'
    server.corrupt = True
    with pytest.raises(ChecksumMismatch) as ei:
        download_url(server.url, dest, expected_size=len(archive.data), sha256=archive.sha, progress=False)
    e, bad = ei.value, tmp_path / 'a.tgz.bad'
    assert e.kind == 'sha256' and e.expected == archive.sha and e.got != archive.sha
    assert archive.sha in str(e) and e.got in str(e) and str(bad) in str(e)
    assert not dest.exists() and not part_of(dest).exists() and bad.stat().st_size == len(archive.data)
    server.corrupt = False  # a transient corruption: the next call just works
    download_url(server.url, dest, expected_size=len(archive.data), sha256=archive.sha, progress=False)
    assert server.log[-1]['range'] is None and dest.read_bytes() == archive.data


def test_announced_size_differs_from_expected(server, archive, tmp_path):
    with pytest.raises(ChecksumMismatch) as ei:
        download_url(server.url, tmp_path / 'a.tgz', expected_size=len(archive.data) + 1, progress=False)
    assert ei.value.kind == 'size' and ei.value.got == len(archive.data)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_writing_keeps_part_for_resume(server, archive, tmp_path, monkeypatch):
    n, dest, calls = len(archive.data), tmp_path / 'a.tgz', []
    real_write = dl._write

    def full_disk_write(f, chunk):
        calls.append(len(chunk))
        if len(calls) <= 2:
            return real_write(f, chunk)
        real_write(f, chunk[:1000])  # the OS took part of the chunk, then the disk was full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(dl, '_write', full_disk_write)
    with pytest.raises(DiskFullError) as ei:
        download_url(server.url, dest, sha256=archive.sha, progress=False, chunk_size=CHUNK)
    have = part_of(dest).stat().st_size
    assert have == calls[0] + calls[1] + 1000 and not dest.exists()
    e = ei.value
    assert e.needed == n - have and f'{n - have:,}' in str(e) and str(tmp_path) in str(e) and 'resume' in str(e)
    assert len(server.log) == 1  # a full disk is not retried
    monkeypatch.setattr(dl, '_write', real_write)  # space freed: the same call resumes
    download_url(server.url, dest, sha256=archive.sha, progress=False, chunk_size=CHUNK)
    assert server.log[-1]['range'] == f'bytes={have}-' and dest.read_bytes() == archive.data


def test_not_enough_free_space_is_reported_before_downloading(server, archive, tmp_path, monkeypatch):
    monkeypatch.setattr(dl.shutil, 'disk_usage', lambda p: SimpleNamespace(total=10**6, used=10**6 - 100, free=100))
    with pytest.raises(DiskFullError) as ei:
        download_url(server.url, tmp_path / 'a.tgz', progress=False)
    assert ei.value.needed == len(archive.data) and 'COURSE_CACHE' in str(ei.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='sha256'):
        download_url('http://127.0.0.1:9/x', tmp_path / 'x', sha256='abc')
    with pytest.raises(ValueError, match='expected_size'):
        download_url('http://127.0.0.1:9/x', tmp_path / 'x', expected_size=-1)
    with pytest.raises(ValueError, match='chunk_size'):
        download_url('http://127.0.0.1:9/x', tmp_path / 'x', chunk_size=0)
    with pytest.raises(ValueError, match='retries'):
        download_url('http://127.0.0.1:9/x', tmp_path / 'x', retries=-1)
    assert list(tmp_path.iterdir()) == []

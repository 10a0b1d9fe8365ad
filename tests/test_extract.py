"""course_lib.extract on archives built from real photographs of the data mirror (never copied into the repo):
corrupt, truncated and malicious archives are refused, and a failed extraction leaves nothing behind."""

import errno
import io
import os
import tarfile
from pathlib import Path

import pytest

from course_lib.download import DiskFullError, DownloadError
from course_lib.extract import safe_extract, archive_top_folder, UnsafeArchiveError, CorruptArchiveError
from conftest import MIRROR, TOP


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if '.extracting-' in p.name)


def test_missing_archive_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no archive'):
        safe_extract(tmp_path / 'missing.tgz', tmp_path / 'out')
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- extraction
def test_corrupt_archive(archive, tmp_path):
    data, mid = archive.data, len(archive.data) // 2
    cases = {
        'flipped': data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 64]) + data[mid + 64 :],
        'truncated': data[:mid],
        'not_a_tar': (MIRROR / 'imagenette' / 'train').glob('*/*.JPEG').__next__().read_bytes(),
    }
    for name, blob in cases.items():
        bad = tmp_path / f'{name}.tgz'
        bad.write_bytes(blob)
        with pytest.raises(CorruptArchiveError) as ei:
            safe_extract(bad, tmp_path / f'out_{name}', progress=False)
        assert str(bad) in str(ei.value) and 'download it again' in str(ei.value), name
        assert not (tmp_path / f'out_{name}').exists() and leftovers(tmp_path) == [], name
    with pytest.raises(CorruptArchiveError):
        archive_top_folder(tmp_path / 'truncated.tgz')


def make_tgz(path, members, good_image):
    "members: list of (TarInfo fields) dicts; an honest image comes first so that a failure must clean it up."
    with tarfile.open(path, 'w:gz') as t:
        t.add(good_image, arcname=f'{TOP}/train/ok.JPEG')
        for m in members:
            info = tarfile.TarInfo(m['name'])
            for k, v in m.items():
                if k != 'data':
                    setattr(info, k, v)
            data = m.get('data', b'')
            info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data else None)
    return path


EVIL = {
    'dotdot': [dict(name=f'{TOP}/../../evil.txt', data=b'x')],
    'absolute': [dict(name='/ABS/evil.txt', data=b'x')],  # the test replaces /ABS by a folder of tmp_path
    'symlink_abs': [dict(name=f'{TOP}/passwd', type=tarfile.SYMTYPE, linkname='/etc/passwd')],
    'symlink_up': [dict(name=f'{TOP}/up', type=tarfile.SYMTYPE, linkname='../../..')],
    'hardlink_out': [dict(name=f'{TOP}/h', type=tarfile.LNKTYPE, linkname='../outside.txt')],
    'device': [dict(name=f'{TOP}/null', type=tarfile.CHRTYPE, devmajor=1, devminor=3)],
    'fifo': [dict(name=f'{TOP}/pipe', type=tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize('case', list(EVIL))
def test_unsafe_archives_are_refused(case, archive, tmp_path):
    img = next((MIRROR / 'imagenette' / 'val').glob('*/*.JPEG'))
    outside = tmp_path / 'outside'
    outside.mkdir()
    members = [dict(m, name=m['name'].replace('/ABS', str(outside))) for m in EVIL[case]]
    evil = make_tgz(tmp_path / 'evil.tgz', members, img)
    work = tmp_path / 'work'
    work.mkdir()
    before = sorted(str(p) for p in tmp_path.parent.rglob('*') if p.is_relative_to(tmp_path.parent))
    with pytest.raises(UnsafeArchiveError) as ei:
        safe_extract(evil, work / 'dest', progress=False)
    assert ei.value.member == members[0]['name'] and repr(members[0]['name']) in str(ei.value)
    assert not (work / 'dest').exists() and leftovers(work) == []
    after = sorted(str(p) for p in tmp_path.parent.rglob('*') if p.is_relative_to(tmp_path.parent))
    assert after == before  # nothing written anywhere around the target
    with pytest.raises(UnsafeArchiveError):
        archive_top_folder(evil)


def test_failed_extraction_leaves_an_existing_dest_alone(archive, tmp_path):
    img = next((MIRROR / 'imagenette' / 'val').glob('*/*.JPEG'))
    dest = tmp_path / 'datasets'
    (dest / 'imagewoof2-160').mkdir(parents=True)
    (dest / 'imagewoof2-160' / 'keep.txt').write_text('mine')
    evil = make_tgz(tmp_path / 'evil.tgz', EVIL['dotdot'], img)
    with pytest.raises(UnsafeArchiveError):
        safe_extract(evil, dest, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == ['imagewoof2-160'] and leftovers(tmp_path) == []
    # a good archive goes in beside what is there; extracting it again is refused without changing anything
    safe_extract(archive.path, dest, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == sorted(['imagewoof2-160', TOP])
    with pytest.raises(FileExistsError, match=TOP):
        safe_extract(archive.path, dest, progress=False)
    assert (dest / 'imagewoof2-160' / 'keep.txt').read_text() == 'mine' and leftovers(tmp_path) == []
    assert len(list((dest / TOP).rglob('*.JPEG'))) == len(archive.names)


def test_symlink_inside_the_target_is_allowed(tmp_path):
    img = next((MIRROR / 'imagenette' / 'val').glob('*/*.JPEG'))
    tgz = make_tgz(
        tmp_path / 'ok.tgz', [dict(name=f'{TOP}/train/same.JPEG', type=tarfile.SYMTYPE, linkname='ok.JPEG')], img
    )
    out = safe_extract(tgz, tmp_path / 'out', progress=False)
    link = out / TOP / 'train' / 'same.JPEG'
    assert link.is_symlink() and link.read_bytes() == img.read_bytes()


def test_disk_full_while_extracting(archive, tmp_path, monkeypatch):
    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tarfile.TarFile, 'makefile', no_space)
    with pytest.raises(DiskFullError) as ei:
        safe_extract(archive.path, tmp_path / 'out', progress=False)
    assert str(archive.path) in str(ei.value) and not (tmp_path / 'out').exists() and leftovers(tmp_path) == []


def test_archive_top_folder_needs_one_folder(tmp_path):
    p = tmp_path / 'two.tgz'
    with tarfile.open(p, 'w:gz') as t:
        for name in ['a/x.txt', 'b/y.txt']:
            info = tarfile.TarInfo(name)
            info.size = 1
            t.addfile(info, io.BytesIO(b'1'))
    with pytest.raises(DownloadError, match=r"one top-level folder.*\['a', 'b'\]"):
        archive_top_folder(p)

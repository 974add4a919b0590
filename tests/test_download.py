"""Tests of maybe_download_and_extract with archives served from this machine."""

import functools
import hashlib
import http.server
import io
import os
import pathlib
import tarfile
import threading

import pytest

from cifar10_lib import download
from cifar10_lib import records
from cifar10_lib.cli import UserError
from cifar10_datasets.synthetic import make_data_dir
from cifar10_datasets.cifar10 import CIFAR10
from conftest import to_python_version


def _cifar10(**files):
  """CIFAR-10's entry with `files` fields replaced (the archives' MD5s)."""
  return CIFAR10._replace(files=CIFAR10.files._replace(**files))


def _md5(path):
  return hashlib.md5(pathlib.Path(path).read_bytes()).hexdigest()


@pytest.fixture
def good_archive(tmp_path):
  """A cifar-10-binary.tar.gz of a small data set, laid out as the real one."""
  source = make_data_dir(tmp_path / 'source')
  archive = tmp_path / 'served' / CIFAR10.files.archive
  archive.parent.mkdir()
  with tarfile.open(archive, 'w:gz') as tar:
    tar.add(records.batches_dir(CIFAR10, source),
            arcname=CIFAR10.files.binary_dir)
  return archive


@pytest.fixture
def http_url():
  """Serves a folder over HTTP on localhost; yields a url(folder, name)."""
  servers = []

  def url(folder, name):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(folder))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    return 'http://127.0.0.1:%d/%s' % (server.server_address[1], name)

  yield url
  for server in servers:
    server.shutdown()
    server.server_close()


def _leftovers(data_dir):
  """Everything in data_dir besides the archive and the data folder."""
  return sorted(set(os.listdir(data_dir)) -
                {CIFAR10.files.archive, CIFAR10.files.binary_dir})


def test_download_over_http_extracts_the_data(tmp_path, good_archive,
                                              http_url, capsys):
  data_dir = tmp_path / 'data'
  url = http_url(good_archive.parent, good_archive.name)
  download.maybe_download_and_extract(
      _cifar10(md5=_md5(good_archive)), str(data_dir), url)
  assert 'Downloading cifar-10-binary.tar.gz 100.0%' in capsys.readouterr().out
  assert len(records.data_files(CIFAR10, str(data_dir))) == 5
  assert len(records.data_files(CIFAR10, str(data_dir), 'test')) == 1
  assert _leftovers(data_dir) == []
  # A second call finds the data and touches nothing.
  download.maybe_download_and_extract(CIFAR10, str(data_dir),
                                      'http://127.0.0.1:1/x')


def test_wrong_checksum_leaves_nothing_behind(tmp_path, good_archive):
  data_dir = tmp_path / 'data'
  with pytest.raises(UserError, match='has MD5 .*not 0123'):
    download.maybe_download_and_extract(
        _cifar10(md5='0123' * 8), str(data_dir), good_archive.as_uri())
  assert not data_dir.exists()


def test_existing_folder_is_kept_when_the_download_fails(tmp_path):
  data_dir = tmp_path / 'data'
  data_dir.mkdir()
  with pytest.raises(UserError) as error:
    download.maybe_download_and_extract(CIFAR10, str(data_dir),
                                      'http://127.0.0.1:1/x')
  assert str(error.value).startswith('could not download')
  assert os.listdir(data_dir) == []


def test_users_own_bad_archive_is_reported_not_deleted(tmp_path, good_archive):
  data_dir = tmp_path / 'data'
  data_dir.mkdir()
  archive = data_dir / CIFAR10.files.archive
  archive.write_bytes(b'not a tarball')
  with pytest.raises(UserError, match='delete it and run again'):
    download.maybe_download_and_extract(
        _cifar10(md5=_md5(good_archive)), str(data_dir),
        good_archive.as_uri())
  assert archive.read_bytes() == b'not a tarball'


def _archive_with(tmp_path, add_member):
  """Writes an archive with a normal data folder plus one member of ours."""
  path = tmp_path / 'evil' / CIFAR10.files.archive
  path.parent.mkdir()
  with tarfile.open(path, 'w:gz') as tar:
    info = tarfile.TarInfo(CIFAR10.files.binary_dir + '/test_batch.bin')
    info.size = 3073
    tar.addfile(info, io.BytesIO(b'\0' * 3073))
    add_member(tar)
  return path


def _escape_member(tar):
  info = tarfile.TarInfo(CIFAR10.files.binary_dir + '/../../escaped.txt')
  info.size = 4
  tar.addfile(info, io.BytesIO(b'oops'))


def _link_member(tar):
  info = tarfile.TarInfo(CIFAR10.files.binary_dir + '/data_batch_1.bin')
  info.type = tarfile.SYMTYPE
  info.linkname = '/etc/passwd'
  tar.addfile(info)


@pytest.mark.parametrize('add_member,message', [
    (_escape_member, 'outside its folder'),
    (_link_member, 'link or special file'),
])
def test_unsafe_archive_is_refused(tmp_path, add_member, message):
  archive = _archive_with(tmp_path, add_member)
  data_dir = tmp_path / 'deep' / 'data'
  with pytest.raises(UserError, match=message):
    download.maybe_download_and_extract(
        _cifar10(md5=_md5(archive)), str(data_dir), archive.as_uri())
  assert not (tmp_path / 'escaped.txt').exists()
  # Both folders were made for the download, and removed with it.
  assert not (tmp_path / 'deep').exists()


def test_unreachable_url_says_how_to_supply_the_files(tmp_path, capsys):
  data_dir = tmp_path / 'data'
  with pytest.raises(UserError) as error:
    download.maybe_download_and_extract(CIFAR10, str(data_dir),
                                      'http://127.0.0.1:1/x')
  # A missing folder is said first (a typo looks like this), then removed.
  assert capsys.readouterr().out.startswith(
      'data_dir %s does not exist: creating it' % data_dir)
  message = str(error.value)
  assert message.startswith('data_dir %s did not exist (check it for a '
                            'typo)' % data_dir)
  assert 'could not download http://127.0.0.1:1/x' in message
  assert 'put it in' in message and '\n' not in message
  assert not data_dir.exists()


def test_existing_data_is_used_without_network(data_dir):
  download.maybe_download_and_extract(CIFAR10, data_dir, 'http://127.0.0.1:1/x')


def _python_archive(tmp_path):
  """A cifar-10-python.tar.gz of a small data set, laid out as the real one."""
  source = to_python_version(make_data_dir(tmp_path / 'source'),
                             tmp_path / 'python')
  archive = tmp_path / 'users' / CIFAR10.files.python_archive
  archive.parent.mkdir()
  with tarfile.open(archive, 'w:gz') as tar:
    tar.add(records.python_batches_dir(CIFAR10, source),
            arcname=CIFAR10.files.python_dir)
  return archive


def test_python_archive_in_data_dir_is_checked_and_extracted(tmp_path):
  archive = _python_archive(tmp_path)
  data_dir = archive.parent
  # No network: a URL that refuses, never asked.
  download.maybe_download_and_extract(
      _cifar10(python_md5=_md5(archive)), str(data_dir),
      'http://127.0.0.1:1/x')
  assert sorted(os.listdir(data_dir)) == sorted(
      [CIFAR10.files.python_archive, CIFAR10.files.python_dir])
  paths = records.data_files(CIFAR10, str(data_dir))
  assert [os.path.basename(p) for p in paths] == list(
      CIFAR10.files.python_train_files)
  assert records.num_examples_in(CIFAR10, paths) == 5 * 40


def test_python_archive_with_a_wrong_md5_is_reported_and_kept(tmp_path):
  archive = _python_archive(tmp_path)
  with pytest.raises(UserError, match=r'cifar-10-python.tar.gz has MD5 \w+, '
                     r'not c58f30108f718f92721af3b95e74349a: it is damaged'):
    download.maybe_download_and_extract(CIFAR10, str(archive.parent),
                                        'http://127.0.0.1:1/x')
  assert os.listdir(archive.parent) == [CIFAR10.files.python_archive]

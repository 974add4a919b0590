"""Fetches a data set of the CIFAR family into --data_dir: checked, and
extracted all or nothing.

The binary archive is downloaded (or an archive the user put there is
used), its MD5 checked, its members checked before anything is extracted,
and extraction goes to a temporary folder renamed into place only when
complete: an interrupted run never leaves files a later run would take for
good data, and nothing the user had is deleted.
"""

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request

from cifar10_lib import records
from cifar10_lib.cli import UserError


def prepare_data(dataset, data_dir, eval_data=None, download=True, url=None):
  """What the scripts do first: fetch the data if asked, and check it.

  It runs before a script writes anything, so that a wrong --data_dir ends
  the run with one line and leaves no folder or file behind.

  Args:
    dataset: the records.Dataset.
    data_dir: the data folder (--data_dir).
    eval_data: which files the script reads, as records.data_files takes
      it: None for training.
    download: whether to fetch the data set when it is missing (one with
      an official address).
    url: where to fetch it from; the data set's official address if None.
  """
  records.check_not_a_batches_folder(dataset, data_dir)
  if download and dataset.files.url:
    maybe_download_and_extract(dataset, data_dir, url)
  records.data_files(dataset, data_dir, eval_data)


def maybe_download_and_extract(dataset, data_dir, url=None):
  """Makes sure DATA_DIR holds `dataset`, downloading its binary version if
  need be.

  Either version's folder is enough. Otherwise an archive the user put in
  DATA_DIR is used: the binary one, or else the Python one
  (cifar-10-python.tar.gz for CIFAR-10); with neither, the binary archive is
  downloaded. The archive is downloaded to a temporary name, its MD5
  checked, and its members checked before anything is extracted;
  extraction goes to a temporary folder that is renamed into place only
  when complete. An interrupted run thus never leaves files that a later
  run would take for good data.

  Args:
    dataset: the records.Dataset; its `files` name the archives, their
      MD5s and the official address.
    data_dir: the data folder; created if missing, and removed again if
      the download into it fails.
    url: where to fetch the archive; the official address if None.

  Raises:
    UserError: the download failed, the archive is corrupt or unsafe, or
      data_dir is not a folder.
  """
  files = dataset.files
  if (os.path.isdir(records.batches_dir(dataset, data_dir)) or
      os.path.isdir(records.python_batches_dir(dataset, data_dir))):
    return
  python_archive = os.path.join(data_dir, files.python_archive)
  if (os.path.exists(python_archive) and
      not os.path.exists(os.path.join(data_dir, files.archive))):
    _extract_users_archive(dataset, python_archive, files.python_md5,
                           data_dir, files.python_dir)
    return
  if os.path.exists(data_dir) and not os.path.isdir(data_dir):
    raise records.DataError(
        'data_dir %s is a file, not a folder: pass --data_dir=DIR where '
        'DIR/%s holds the %s binary files' %
        (data_dir, files.binary_dir, dataset.title))
  created = _missing_ancestor(data_dir)
  if created:
    # Said first: a mistyped --data_dir looks like this.
    print('data_dir %s does not exist: creating it and downloading %s '
          'into it.' % (data_dir, dataset.title), flush=True)
  try:
    os.makedirs(data_dir, exist_ok=True)
    archive = os.path.join(data_dir, files.archive)
    if os.path.exists(archive):
      _extract_users_archive(dataset, archive, files.md5, data_dir,
                             files.binary_dir)
    else:
      _download(dataset, url or files.url, archive)
      _safe_extract(dataset, archive, data_dir, files.binary_dir)
  except UserError as e:
    if not created:
      raise
    shutil.rmtree(created, ignore_errors=True)
    raise UserError('data_dir %s did not exist (check it for a typo) and '
                    'the download into it failed, so it was removed again: '
                    '%s' % (data_dir, e)) from e


def _extract_users_archive(dataset, archive, md5, data_dir, folder):
  """Checks the MD5 of an archive the user put in data_dir, then extracts it.

  A wrong one is reported and never deleted: it is the user's.
  """
  digest = _md5(archive)
  if digest != md5:
    raise UserError('%s has MD5 %s, not %s: it is damaged or not the official '
                    '%s archive; delete it and run again' %
                    (archive, digest, md5, dataset.title))
  _safe_extract(dataset, archive, data_dir, folder)


def _missing_ancestor(path):
  """The outermost folder of `path` that does not exist yet, or None.

  What a failed download must remove to leave the disk as it found it.
  """
  path = os.path.abspath(path)
  missing = None
  while not os.path.exists(path):
    missing, path = path, os.path.dirname(path)
  return missing


def _download(dataset, url, archive):
  """Downloads `url` to `archive`, showing progress, via a temporary file.

  A downloaded file whose MD5 is wrong is removed here: it was never the
  user's.
  """
  partial = archive + '.part'
  name, md5 = dataset.files.archive, dataset.files.md5

  def progress(count, block_size, total_size):
    if total_size > 0:
      done = min(100.0, 100.0 * count * block_size / total_size)
      sys.stdout.write('\r>> Downloading %s %.1f%%' % (name, done))
      sys.stdout.flush()

  try:
    urllib.request.urlretrieve(url, partial, progress)
  except (urllib.error.URLError, OSError, ValueError) as e:
    _remove_quietly(partial)
    raise UserError(
        'could not download %s (%s): download %s yourself and put it in %s, '
        'or extract it there so that %s exists, then run again' %
        (url, getattr(e, 'reason', e), name, os.path.dirname(archive),
         dataset.files.binary_dir))
  sys.stdout.write('\n')
  digest = _md5(partial)
  if digest != md5:
    _remove_quietly(partial)
    raise UserError('the file downloaded from %s has MD5 %s, not %s: it is '
                    'not the %s binary archive; check --data_url' %
                    (url, digest, md5, dataset.title))
  os.replace(partial, archive)
  print('Downloaded %s, %d bytes.' % (archive, os.path.getsize(archive)))


def _remove_quietly(path):
  try:
    os.remove(path)
  except OSError:
    pass


def _md5(path):
  digest = hashlib.md5()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _safe_extract(dataset, archive, data_dir, folder):
  """Extracts `folder` from `archive` into `data_dir`, all or nothing.

  Refuses archives with absolute paths, '..' components, links or special
  files, any of which could write outside data_dir.
  """
  staging = tempfile.mkdtemp(prefix='.extract-', dir=data_dir)
  try:
    with tarfile.open(archive, 'r:gz') as tar:
      members = tar.getmembers()
      for member in members:
        _check_member(member, archive)
      # Python's 'data' filter (3.11.4+) is a second guard beside ours.
      extra = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}
      tar.extractall(staging, members=members, **extra)
    extracted = os.path.join(staging, folder)
    if not os.path.isdir(extracted):
      raise UserError('%s has no %s folder: it is not the official %s '
                      'archive' % (archive, folder, dataset.title))
    os.rename(extracted, os.path.join(data_dir, folder))
  except (tarfile.TarError, EOFError, OSError) as e:
    raise UserError('could not extract %s (%s): delete it and run again' %
                    (archive, e))
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def _check_member(member, archive):
  """Raises UserError if a tar member could land outside the target folder."""
  parts = member.name.replace('\\', '/').split('/')
  if (os.path.isabs(member.name) or member.name.startswith('/')
      or '..' in parts):
    raise UserError('%s has a member %r outside its folder; refusing to '
                    'extract it' % (archive, member.name))
  if not (member.isfile() or member.isdir()):
    raise UserError('%s has a link or special file %r; refusing to extract '
                    'it' % (archive, member.name))

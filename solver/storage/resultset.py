"""A folder of results written as one unit.

The files of a run (solution.json, summary.csv, launch.sh, ...) are written into a temporary folder beside the
target and swapped into place with renames, so a crash, a signal or a full disk leaves either the previous set or
the new one, never a mix. A lock file beside the folder makes a second writer fail at once with a clear error, and
the folder is checked to be writable before any solving starts. Files get the permissions of the user's umask.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from solver.domain.errors import UserError


class ResultSet:
    """`with ResultSet(dir) as out: out.add(name, text)`: nothing lands unless the block completes."""

    def __init__(self, directory: Path):
        self.directory = Path(directory).absolute()
        self.files: dict[str, tuple[str | bytes, int]] = {}
        self.lock = self._acquire()

    def _acquire(self) -> int:
        """Fail before any work when the folder cannot be written or another run is writing it."""
        target, parent = self.directory, self.directory.parent
        if target.exists() and not target.is_dir():
            raise UserError(f"--output {target} is a file, not a folder. Fix: pass a folder path.")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise UserError(f"--output {target}: a part of the path is a file. Fix: pass a folder path.") from None
        except OSError as exc:
            raise UserError(f"--output {target}: cannot create {parent} ({exc.strerror}). Fix: choose a writable "
                            "folder.") from None
        if not os.access(parent, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
            raise UserError(f"--output {target} is not writable. Fix: choose a folder you may write to.")
        lock = os.open(parent / f".{target.name}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            raise UserError(f"another tokenop-solve is writing {target}. Fix: wait for it, or pass another "
                            "--output.") from None
        return lock

    def add(self, name: str, content: str | bytes, executable: bool = False) -> Path:
        """Stage a file (text, or bytes such as a PNG); it lands with the others when the block completes."""
        self.files[name] = (content, 0o777 if executable else 0o666)
        return self.directory / name

    def __enter__(self) -> ResultSet:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
                 ) -> None:
        try:
            if kind is None:
                self._commit()
        finally:
            os.close(self.lock)

    def _commit(self) -> None:
        target, parent = self.directory, self.directory.parent
        umask = os.umask(0)
        os.umask(umask)
        staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.new-"))
        try:
            for name, (content, mode) in self.files.items():
                path = staging / name
                with open(path, "wb") as handle:
                    handle.write(content.encode() if isinstance(content, str) else content)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(path, mode & ~umask)
            os.chmod(staging, 0o777 & ~umask)
            if target.exists():  # keep the folder's other files (logs, notes) in the new set
                for entry in target.iterdir():
                    if entry.name not in self.files:
                        os.rename(entry, staging / entry.name)
                old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.old-"))
                os.rename(target, old / "set")
                os.rename(staging, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(staging, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise UserError(f"could not write the results to {target} ({exc.strerror}); nothing was changed "
                            "there. Fix: free disk space or choose another --output.") from None

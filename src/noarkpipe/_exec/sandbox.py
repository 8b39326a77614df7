"""The sandbox every external converter runs in: no network, nothing written outside the data directory.

Documents come from strangers. An office document can link an image on a
web server (a `.docx` relationship with TargetMode="External", an `.odt`
`xlink:href="http://..."`), and LibreOffice fetches it while exporting the
PDF/A: the sender learns when the letter was opened, and whatever the server
sends lands in the archival copy. So no converter gets a network at all. This
module is the one place that says how:

- A program (LibreOffice, Ghostscript, tesseract) runs under bubblewrap
  (`bwrap`) in namespaces of its own: a network namespace with nothing in it
  but a loopback of its own, so nothing outside can be reached, not even a
  listener on this machine's loopback; a pid namespace, so whatever it starts
  dies with it; and a file-system view where everything is read-only except
  the folders the caller names, all in the data directory's work area. /tmp
  is a private tmpfs and /run (the system's sockets), /home and /root are
  hidden; HOME and TMPDIR point into the work area. `--die-with-parent`
  ends the sandbox, with everything in it, when the process that started it
  dies, however it dies.
- OCRmyPDF runs in a Python child process (see ocrmypdf.py), which calls
  `enter_own_namespaces` before it starts: it leaves the network namespace
  it was born in for an empty one, and gets a mount namespace in which
  everything is read-only but its folders in the work area; the tesseract
  and Ghostscript processes OCRmyPDF starts inherit both. OCRmyPDF itself
  runs as the first process of a pid namespace, so that they all die with
  it. Its temporaries are pointed into the work area (`environment`).

`bwrap` must really work on the machine: user namespaces can be switched
off (a sysctl, a container's seccomp profile). It is tried once per process
(`require`), and a sandbox that cannot be made is a `MissingDependencyError`
saying how to fix it, like any missing program. `[convert] sandbox = "off"`
runs the converters without it: only for a machine where namespaces cannot
be had, and it is logged as a warning on every run.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

from noarkpipe.errors import SandboxError

log = logging.getLogger(__name__)

Mode = Literal["bwrap", "off"]
PROGRAM = "bwrap"
PACKAGE = "bubblewrap"
_PROBE_TIMEOUT_SECONDS = 30
_HIDDEN = (Path("/run"), Path("/home"), Path("/root"))
"""Replaced by empty folders in the sandbox: the system's sockets and the users' homes."""
_DROPPED_VARIABLES = ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "DISPLAY", "WAYLAND_DISPLAY")
"""Ways to reach other processes that a headless converter has no use for."""
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
_SYS_MOUNT_SETATTR = 442
"""The same number on every architecture Linux numbers its new system calls alike (all but alpha)."""
_AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = -100, 0x8000, 0x1


def install_hint() -> str:
    return (
        f"apt-get install {PACKAGE}; if it is installed, the kernel must allow user namespaces "
        "(sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; in a container, "
        "a seccomp profile that allows unshare). Only if that cannot be had: set sandbox = \"off\" under "
        "[convert], which lets converters reach the network"
    )


def require(mode: Mode) -> None:
    """Check before a run that converters can be sandboxed as `mode` says; warn if they will not be."""
    if mode == "off":
        log.warning(
            "[convert] sandbox = \"off\": the converters (LibreOffice, Ghostscript, OCRmyPDF, tesseract) run "
            "with network access and may fetch what documents link to; this is unsafe"
        )
        return
    _working_bwrap()


def confine(
    argv: Sequence[str],
    mode: Mode,
    *,
    home: Path | None,
    writable: Iterable[Path] = (),
    readable: Iterable[Path] = (),
    base: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run `argv` in the sandbox.

    `home` (made if missing) becomes HOME, with TMPDIR and the XDG folders
    inside it; it must lie in the data directory's work area. None for a
    program that writes nothing: it then has only the sandbox's private /tmp.
    `writable` are the folders it writes its results to, `readable` the
    files it reads that may lie in a hidden folder. With mode "off" the
    command is `argv` itself, but the environment is still pointed at `home`.
    """
    base = base if base is not None else os.environ
    env = private_home(home, base) if home is not None else environment(None, base)
    writable = [*writable, *([home] if home is not None else [])]
    if mode == "off":
        return list(argv), env
    program = _working_bwrap()
    if home is None:
        # The sandbox's own /tmp, gone with it.
        env.update({"HOME": "/tmp", "TMPDIR": "/tmp"})
    # The program itself may lie in a hidden folder (a build in someone's home).
    readable = [*readable, *(_link_chain(Path(argv[0])) if os.path.isabs(argv[0]) else [])]
    return bwrap_args(program, argv, writable=writable, readable=readable, hidden=_existing(_HIDDEN)), env


def bwrap_args(
    program: str, argv: Sequence[str], *, writable: Iterable[Path], readable: Iterable[Path], hidden: Iterable[Path]
) -> list[str]:
    """The bwrap command line around `argv`; see the module docstring for the view it gives."""
    args = [
        program,
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        # A process that shares the caller's terminal could push keystrokes into it (TIOCSTI).
        "--new-session",
        "--cap-drop", "ALL",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
    ]
    for folder in hidden:
        args += ["--tmpfs", str(folder)]
    args += ["--tmpfs", "/tmp"]
    # Later mounts go on top of earlier ones: what the program needs shows
    # through the hidden folders, and what it writes through the read-only root.
    for path in readable:
        # Each at its own name: a symbolic link in a hidden folder must be there as a link.
        named = os.path.abspath(path)
        args += ["--ro-bind-try", named, named]
    for path in writable:
        resolved = str(Path(path).resolve())
        args += ["--bind", resolved, resolved]
    return [*args, "--", *argv]


def private_home(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Make `home` with its temporary folder, and the environment that points a program there (see `environment`)."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return environment(home, base if base is not None else os.environ)


def probe_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """For `program --version` and the like, run outside the sandbox: a HOME where nothing can be made.

    A probe reads no document, but LibreOffice writes a settings cache into
    HOME even to print its version; /dev/null is no folder, so it cannot.
    """
    env = environment(None, base if base is not None else os.environ)
    for key in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        env.pop(key, None)
    env["HOME"] = os.devnull
    return env


def environment(home: Path | None, base: Mapping[str, str]) -> dict[str, str]:
    """`base` with HOME, the temporary folder and the XDG folders in `home`, and no ways to reach a desktop."""
    env = {key: value for key, value in base.items() if key not in _DROPPED_VARIABLES}
    if home is None:
        return env
    home = home.resolve()
    temp = str(home / "tmp")
    env.update({
        "HOME": str(home),
        "TMPDIR": temp,
        "TMP": temp,
        "TEMP": temp,
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    })
    return env


def enter_own_namespaces(mode: Mode, writable: Iterable[Path] = ()) -> None:
    """Give this process namespaces of its own: no network, nothing writable but `writable`, a pid namespace.

    For a child process that runs a converter in Python (OCRmyPDF): it and
    everything it starts then reach nothing, and write only in `writable`
    (folders in the work area). The process stays in its pid namespace, but
    the next process it starts is the first of a new one, and when that one
    dies the kernel kills everything started below it. A no-op for "off".

    Must be called while the process has one thread (the kernel refuses a
    new user namespace to a process with more). Root with CAP_SYS_ADMIN
    needs no user namespace; anyone else gets one first, in which their own
    uid and gid stay what they are, so files they write are theirs as before.
    The file system is made read-only with mount_setattr (Linux 5.12); on an
    older kernel only the network and pid namespaces are had.
    """
    if mode == "off":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    namespaces = _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWNS
    if not (os.geteuid() == 0 and libc.unshare(namespaces) == 0):
        uid, gid = os.geteuid(), os.getegid()
        if libc.unshare(_CLONE_NEWUSER | namespaces) != 0:
            raise SandboxError(
                "a converter could not be given namespaces of its own, without network "
                f"(unshare: {os.strerror(ctypes.get_errno())})",
                hint=install_hint(),
            )
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    _read_only_but(libc, [os.fsencode(Path(folder).resolve()) for folder in writable])


class _MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]


def _read_only_but(libc: ctypes.CDLL, writable: list[bytes]) -> None:
    """In this process's own mount namespace: everything read-only, except the folders in `writable`."""
    # Nothing done here may reach the mounts of the rest of the machine.
    _mount_call(libc.mount(None, b"/", None, ctypes.c_ulong(_MS_REC | _MS_PRIVATE), None), "make / private")
    for folder in writable:
        # A mount of its own, so that it can stay writable when the rest is not.
        _mount_call(libc.mount(folder, folder, None, ctypes.c_ulong(_MS_BIND | _MS_REC), None), "bind", folder)
    libc.syscall.restype = ctypes.c_long
    if not _set_mount_attr(libc, b"/", _MountAttr(attr_set=_MOUNT_ATTR_RDONLY)):
        if ctypes.get_errno() == errno.ENOSYS:
            return
        _mount_call(-1, "make / read-only")
    for folder in writable:
        _mount_call(0 if _set_mount_attr(libc, folder, _MountAttr(attr_clr=_MOUNT_ATTR_RDONLY)) else -1, "open", folder)


def _set_mount_attr(libc: ctypes.CDLL, path: bytes, attr: _MountAttr) -> bool:
    result = libc.syscall(
        ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(_AT_FDCWD), path, ctypes.c_uint(_AT_RECURSIVE),
        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    return result == 0


def _mount_call(result: int, what: str, path: bytes = b"") -> None:
    if result != 0:
        reason = os.strerror(ctypes.get_errno())
        step = f"{what} {os.fsdecode(path)}" if path else what
        raise SandboxError(f"a converter's file-system view could not be made ({step}: {reason})", hint=install_hint())


@lru_cache(maxsize=1)
def _working_bwrap() -> str:
    """The path of a bwrap that makes a sandbox with a network namespace of its own; asked once per process."""
    program = shutil.which(PROGRAM)
    if program is None:
        raise SandboxError(
            "bubblewrap (bwrap), which runs the converters with no network, is not installed or not on PATH",
            hint=install_hint(),
        )
    # The sandbox reports which network namespace it is in: it must not be ours.
    readlink = shutil.which("readlink") or "readlink"
    probe = bwrap_args(program, [readlink, "/proc/self/ns/net"], writable=(), readable=(), hidden=_existing(_HIDDEN))
    try:
        completed = subprocess.run(probe, capture_output=True, timeout=_PROBE_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"could not run {program}: {exc}", hint=install_hint()) from exc
    inside = completed.stdout.decode("utf-8", "replace").strip()
    if completed.returncode != 0 or not inside:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SandboxError(
            f"bubblewrap cannot make a sandbox on this machine (exit status {completed.returncode}): "
            f"{message[-1] if message else 'no message'}",
            hint=install_hint(),
        )
    if inside == os.readlink("/proc/self/ns/net"):
        raise SandboxError(
            "bubblewrap ran the probe in this machine's own network namespace, so converters would have network",
            hint=install_hint(),
        )
    return program


def _link_chain(path: Path) -> list[Path]:
    """`path` and every symbolic link on the way from it to the file it names, one hop at a time."""
    chain = [path]
    while path.is_symlink() and len(chain) < 40:
        path = path.parent / os.readlink(path)
        chain.append(path)
    return chain


def _existing(folders: Iterable[Path]) -> list[Path]:
    return [folder for folder in folders if folder.is_dir() and not folder.is_symlink()]

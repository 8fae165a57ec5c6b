"""The held interpreter: started ahead of a run, it runs that run's script when told to.

This file is not imported by the worker: ``execution.backends.held`` passes its source
to the environment's Python as ``python -c <source> <padding> [module …]`` (inside the
run's sandbox; the padding only reserves room, step 3), so it must run on every Python
an environment may have (3.8+) and imports nothing at the top beyond ``os`` and ``sys``,
which start-up has loaded already.

Algorithm:

1. Import the modules named on the command line (the SDK): what a script's first
   ``import`` would cost is paid while nothing waits; once a launch is waiting the
   preload stops before the next module it would load (``_Gate``). The names of the
   modules this added are kept.
2. Read one launch message from stdin: the decimal length of the payload and a
   newline, then the NUL-separated payload ``cwd, argc, argv…, KEY=VALUE…`` (the run's
   own variables). End of file first means the hold was dropped: exit 0.
3. Make stdin /dev/null (what a run's stdin always is); the variables become the hold's
   without ``RUNYARD_HOLD*`` plus the run's, set afresh so that the C library no longer
   points into the process's initial environment block, which is then overwritten with
   them (and the initial argument block with the command line), so /proc/<pid>/environ
   and cmdline show the run's variables and command as a cold start's would (the
   ``RUNYARD_HOLD_PAD`` variable reserved the room); ``chdir`` to the run's directory.
4. If ``argv`` is not ``[this python, script, args…]``, or the script's directory holds
   a module named like one step 1 imported (the run's ``json.py`` would have shadowed
   the standard one), ``execv`` the command: a fresh interpreter, exactly as a cold
   start would run it, in the same sandbox.
5. Otherwise run the script the way ``python script.py`` does: a fresh ``__main__``
   module with ``__file__`` (absolute) and a source loader, ``sys.argv = [script, args…]``,
   ``sys.path[0]`` the script's real directory; an uncaught exception prints its
   traceback without this launcher's frame and exits 1, ``SystemExit`` keeps its code.
"""

import os
import sys


def _read_message(fd):
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        data += chunk
    head, _, data = data.partition(b"\n")
    size = int(head)
    while len(data) < size:
        chunk = os.read(fd, max(65536, size - len(data)))
        if not chunk:
            return None
        data += chunk
    fields = [os.fsdecode(part) for part in data[:size].split(b"\0")]
    cwd, argc = fields[0], int(fields[1])
    argv = fields[2 : 2 + argc]
    env = dict(item.split("=", 1) for item in fields[2 + argc :])
    return cwd, argv, env


def _module_names(folder):
    """Top-level names a script in ``folder`` imports from there ahead of everything else."""
    names = set()  # type: set[str]
    try:
        entries = os.listdir(folder)
    except OSError:
        return names
    for entry in entries:
        if entry.endswith((".py", ".pyc", ".so", ".pyd")):
            names.add(entry.split(".", 1)[0])
        elif os.path.isfile(os.path.join(folder, entry, "__init__.py")):
            names.add(entry)
    return names


def _overwrite(start, end, items):
    """Write NUL-terminated ``items`` over the process memory [start, end), NUL-padded;
    False (nothing written) when they do not fit."""
    import ctypes

    block = b"".join(os.fsencode(item) + b"\0" for item in items)
    if not start or len(block) > end - start:
        return False
    ctypes.memmove(start, block + b"\0" * (end - start - len(block)), end - start)
    return True


def _show(argv):
    """Make /proc/self/environ and /proc/self/cmdline the run's (step 3)."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        # After the command name: arg_start, arg_end, env_start, env_end are fields 48-51.
        arg_start, arg_end, env_start, env_end = (int(f) for f in fields[45:49])
    except (OSError, IndexError, ValueError):
        return
    _overwrite(env_start, env_end, [f"{k}={v}" for k, v in os.environ.items()])
    _overwrite(arg_start, arg_end, argv)


class _Launch(Exception):
    """A launch is waiting: the preload stops at the next module it would load."""


class _Gate:
    """First on ``sys.meta_path`` during the preload: each module the preload is about to
    load first checks stdin, so a run never waits for the rest of the SDK's imports (the
    modules loaded so far stay, as after any failed import)."""

    select = None

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if cls.select is not None and cls.select([0], [], [], 0)[0]:
            raise _Launch()
        return None


def _preload(names):
    import select

    _Gate.select = select.select  # type: ignore[assignment]
    sys.meta_path.insert(0, _Gate)
    try:
        import ctypes  # noqa: F401 - step 3 needs it; loaded here, it counts as preloaded

        for name in names:
            try:
                __import__(name)
            except _Launch:
                break
            except Exception:  # the script's own import will say what is wrong
                pass
    except _Launch:
        pass
    finally:
        sys.meta_path.remove(_Gate)


def _main():
    if sys.path and sys.path[0] == "":
        del sys.path[0]  # ``-c`` put the working directory first; a script's folder goes there
    before = set(sys.modules)
    _preload(sys.argv[2:])
    preloaded = {name.split(".", 1)[0] for name in set(sys.modules) - before}
    message = _read_message(0)
    if message is None:
        os._exit(0)
    cwd, argv, env = message
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    variables = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_HOLD")}
    variables.update(env)
    os.environ.clear()  # unsetenv: the C library's table no longer names the initial block
    os.environ.update(variables)
    _show(argv)
    os.chdir(cwd)
    if len(argv) < 2 or argv[0] != sys.executable:
        os.execvp(argv[0], argv)
    script = argv[1]
    folder = os.path.dirname(os.path.realpath(script))
    if preloaded & _module_names(folder):
        os.execv(argv[0], argv)
    return script, argv[1:], folder


def _run(script, args, folder):
    script = os.path.abspath(script)  # as ``python script.py`` names it (3.9+)
    main = type(sys)("__main__")
    namespace = main.__dict__
    namespace.update({"__file__": script, "__cached__": None, "__builtins__": __builtins__})
    loader_type = sys.modules["_frozen_importlib_external"].SourceFileLoader
    namespace["__loader__"] = loader_type("__main__", script)
    sys.modules["__main__"] = main
    sys.argv[:] = args
    sys.path.insert(0, folder)
    with open(script, "rb") as handle:
        code = compile(handle.read(), script, "exec", dont_inherit=True)
    try:
        exec(code, namespace)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        trace = exc.__traceback__
        if trace is not None:  # the printer reads the exception's own traceback
            exc.__traceback__ = trace = trace.tb_next
        sys.excepthook(type(exc), exc, trace)
        sys.exit(1)


_run(*_main())

"""A minimal remote-shell agent for mpirun across a run's containers (standard library only).

Open MPI starts its daemon on other hosts through an "rsh agent" (``ssh`` by
default); the Runyard base image has no sshd, so the docker backend ships this file
into every container of a multi-node MPI run:

- the other nodes run ``python3 docker_rsh.py serve``: it accepts connections on
  ``PORT``, checks the run's secret (``RUNYARD_RSH_TOKEN``, known only to the run's
  containers), runs the received command with ``sh -c`` and streams its stdout and
  stderr back, then its exit code;
- the first node runs mpirun with ``--mca plm_rsh_agent "python3 docker_rsh.py"``:
  called as ``docker_rsh.py HOST COMMAND...``, it sends the command and relays the
  output and exit code, as ssh would.

Frames are ``<1 byte stream><4 bytes length><data>``; stream 1 = stdout, 2 = stderr,
3 = exit code (decimal text). The network is the run's own, created for it alone.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading

PORT = 2220


def _frame(sock: socket.socket, stream: int, data: bytes, lock: threading.Lock) -> None:
    with lock:
        sock.sendall(struct.pack("!BI", stream, len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _serve_one(conn: socket.socket, token: str) -> None:
    with conn:
        request = json.loads(conn.makefile("rb").readline())
        if request.get("token") != token:
            return
        proc = subprocess.Popen(
            ["sh", "-c", " ".join(request["argv"])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        lock = threading.Lock()

        def relay(pipe: object, stream: int) -> None:
            for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):  # type: ignore[attr-defined]
                _frame(conn, stream, chunk, lock)

        pumps = [
            threading.Thread(target=relay, args=(proc.stdout, 1)),
            threading.Thread(target=relay, args=(proc.stderr, 2)),
        ]
        for pump in pumps:
            pump.start()
        code = proc.wait()
        for pump in pumps:
            pump.join()
        _frame(conn, 3, str(code).encode(), lock)


def serve() -> None:
    token = os.environ["RUNYARD_RSH_TOKEN"]
    server = socket.create_server(("0.0.0.0", PORT), reuse_port=False)
    print(f"runyard rsh agent listening on {socket.gethostname()}:{PORT}", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve_one, args=(conn, token), daemon=True).start()


def run(argv: list[str]) -> int:
    while argv and argv[0].startswith("-"):  # ssh-style options mpirun may add
        argv = argv[1:]
    host, command = argv[0], argv[1:]
    sock = socket.create_connection((host, PORT), timeout=30)
    sock.settimeout(None)
    sock.sendall(json.dumps({"token": os.environ["RUNYARD_RSH_TOKEN"], "argv": command}).encode() + b"\n")
    outs = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    while True:
        try:
            stream, size = struct.unpack("!BI", _recv_exact(sock, 5))
            data = _recv_exact(sock, size)
        except EOFError:
            return 255
        if stream == 3:
            return int(data.decode() or 255)
        outs[stream].write(data)
        outs[stream].flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    sys.exit(run(sys.argv[1:]))

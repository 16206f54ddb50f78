#!/usr/bin/env python3
"""Runs one shell command inside a guest through the QEMU guest agent (lab tests).

usage: qga-exec.py SOCKET TIMEOUT COMMAND
Waits up to TIMEOUT seconds for the agent on the chardev unix SOCKET (lf_qemu_agent), runs
/bin/sh -c COMMAND there, prints its stdout then its stderr, and exits with its status
(124 when the agent or the command did not answer in time)."""
import base64
import json
import socket
import sys
import time


def main():
    path, timeout, command = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    end = time.monotonic() + timeout
    buf = b""
    sock = None

    def call(msg, wait):
        nonlocal buf
        sock.sendall(json.dumps(msg).encode() + b"\n")
        sock.settimeout(wait)
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("agent socket closed")
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        return json.loads(line)

    # The agent starts late in the guest's boot: sync with a fresh id until it answers.
    while True:
        if time.monotonic() > end:
            print("qga-exec: no guest agent answer", file=sys.stderr)
            return 124
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            n = int(time.monotonic() * 1000) & 0x7FFFFFFF
            # guest-sync-delimited: the answer follows a 0xff byte that drops stale data.
            sock.sendall(json.dumps({"execute": "guest-sync-delimited",
                                     "arguments": {"id": n}}).encode() + b"\n")
            sock.settimeout(3)
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
                if b"\xff" in data and b"\n" in data.rsplit(b"\xff", 1)[1]:
                    break
            reply = data.rsplit(b"\xff", 1)[1].split(b"\n", 1)
            if json.loads(reply[0]).get("return") == n:
                buf = reply[1]
                break
        except (OSError, ValueError):
            pass
        if sock:
            sock.close()
        time.sleep(1)

    pid = call({"execute": "guest-exec", "arguments": {
        "path": "/bin/sh", "arg": ["-c", command], "capture-output": True}}, 10)
    if "return" not in pid:
        print("qga-exec: guest-exec: %s" % pid, file=sys.stderr)
        return 1
    pid = pid["return"]["pid"]
    while True:
        st = call({"execute": "guest-exec-status", "arguments": {"pid": pid}}, 10)["return"]
        if st.get("exited"):
            break
        if time.monotonic() > end:
            print("qga-exec: command still running", file=sys.stderr)
            return 124
        time.sleep(0.5)
    sys.stdout.write(base64.b64decode(st.get("out-data", "")).decode(errors="replace"))
    sys.stderr.write(base64.b64decode(st.get("err-data", "")).decode(errors="replace"))
    return st.get("exitcode", 1)


if __name__ == "__main__":
    sys.exit(main())

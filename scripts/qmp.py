#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A minimal QMP client (standard library only) for vswap's scripts and tests.

As a command:  qmp.py SOCKET COMMAND ['{"arg": ...}']
prints the command's "return" value as JSON, or exits 1 with the error.
"""
import json
import socket
import sys
import time


class QMPError(Exception):
    """A QMP command answered with an error."""


class QMP:
    """One QMP connection over a unix socket, in command mode."""

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile('rw')
        self.events = []
        greeting = self._read()
        if 'QMP' not in greeting:
            raise QMPError('not a QMP server: %r' % greeting)
        self.cmd('qmp_capabilities')

    def _read(self):
        line = self.file.readline()
        if not line:
            raise EOFError('QMP connection closed')
        return json.loads(line)

    def cmd(self, name, **args):
        """Run NAME with ARGS; return its "return" value or raise QMPError."""
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.file.write(json.dumps(msg) + '\n')
        self.file.flush()
        while True:
            resp = self._read()
            if 'event' in resp:
                self.events.append(resp)
                continue
            if 'error' in resp:
                raise QMPError('%s: %s' % (name, resp['error']['desc']))
            return resp['return']

    def hmp(self, command):
        """Run a human monitor command and return its text."""
        return self.cmd('human-monitor-command', **{'command-line': command})

    def close(self):
        self.sock.close()


def main():
    if len(sys.argv) < 3:
        sys.exit('usage: qmp.py SOCKET COMMAND [JSON-ARGUMENTS]')
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    qmp = QMP(sys.argv[1])
    try:
        print(json.dumps(qmp.cmd(sys.argv[2], **args), indent=2))
    except QMPError as err:
        sys.exit(str(err))
    finally:
        qmp.close()


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""slowproxy: a loopback TCP proxy that makes a server slow or cuts it off, for
fault tests of a client (iocmgr) talking to the local kube-apiserver.

It forwards bytes unchanged (TLS passes through end to end, so the client still
verifies the apiserver's own certificate: its SAN covers 127.0.0.1, whatever the
port). Listens on 127.0.0.1 only, and exits by itself after --max-seconds.

    slowproxy.py --target 127.0.0.1:16443 [--port 0] [--control-port 0] [--max-seconds 1800]

prints one line "slowproxy port P control C" when ready, then takes commands,
one per line, on the control port (127.0.0.1, answers one line each):

    delay S        hold every chunk S seconds before forwarding it (both directions;
                   order kept): a slow API. 0 turns it off
    cut            close every open connection at once (RST), as a crashed peer or a
                   dropped NAT entry would; queued bytes are dropped
    refuse on|off  on: accept new connections and close them at once (RST)
    freeze on|off  on: stop forwarding (bytes queue up, connections stay open): a
                   black hole. off: deliver what queued, in order
    stats          "conns N total T up U down D": open connections, accepted so far,
                   bytes forwarded client->server and server->client
    quit           exit
"""
import argparse
import asyncio
import socket
import struct
import sys
import time


class Proxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.delay = 0.0
        self.refuse = False
        self.frozen = asyncio.Event()
        self.frozen.set()           # set = flowing
        self.live = {}              # id -> {"writers": (client, server), "tasks": [...]}
        self.total = 0
        self.done = asyncio.Event()
        self.bytes = {"up": 0, "down": 0}

    @staticmethod
    def _reset(writer):
        """Close with RST, not FIN: the peer sees a broken connection at once."""
        sock = writer.get_extra_info("socket")
        try:
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        writer.transport.abort()

    async def _pump(self, reader, writer, direction, conn):
        queue = asyncio.Queue()

        async def sender():
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.frozen.wait()
                writer.write(data)
                self.bytes[direction] += len(data)
                await writer.drain()

        task = asyncio.ensure_future(sender())
        conn["tasks"].append(task)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                queue.put_nowait((time.monotonic() + self.delay, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((0, None))
        try:
            await task
            writer.write_eof()
        except (ConnectionError, OSError, RuntimeError):
            pass

    async def handle(self, creader, cwriter):
        self.total += 1
        if self.refuse:
            self._reset(cwriter)
            return
        try:
            sreader, swriter = await asyncio.open_connection(*self.target)
        except OSError:
            self._reset(cwriter)
            return
        conn = {"writers": (cwriter, swriter), "tasks": []}
        self.live[id(conn)] = conn
        try:
            await asyncio.gather(self._pump(creader, swriter, "up", conn),
                                 self._pump(sreader, cwriter, "down", conn))
        except asyncio.CancelledError:
            pass
        finally:
            self.live.pop(id(conn), None)
            for w in (cwriter, swriter):
                w.transport.abort()

    def cut(self):
        n = 0
        for conn in list(self.live.values()):
            for t in conn["tasks"]:
                t.cancel()
            for w in conn["writers"]:
                self._reset(w)
            n += 1
        return n

    async def control(self, reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                break
            words = line.decode(errors="replace").split()
            answer = "ok"
            if not words:
                continue
            cmd = words[0]
            try:
                if cmd == "delay":
                    self.delay = max(0.0, float(words[1]))
                elif cmd == "cut":
                    answer = f"ok cut {self.cut()}"
                elif cmd == "refuse":
                    self.refuse = words[1] == "on"
                elif cmd == "freeze":
                    if words[1] == "on":
                        self.frozen.clear()
                    else:
                        self.frozen.set()
                elif cmd == "stats":
                    answer = (f"conns {len(self.live)} total {self.total} "
                              f"up {self.bytes['up']} down {self.bytes['down']}")
                elif cmd == "quit":
                    self.done.set()
                else:
                    answer = f"error unknown command {cmd}"
            except (IndexError, ValueError):
                answer = f"error bad arguments: {line.decode(errors='replace').strip()}"
            writer.write((answer + "\n").encode())
            await writer.drain()
        writer.close()


async def main(args):
    host, port = args.target.rsplit(":", 1)
    proxy = Proxy(host, int(port))
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.port)
    control = await asyncio.start_server(proxy.control, "127.0.0.1", args.control_port)
    p = server.sockets[0].getsockname()[1]
    c = control.sockets[0].getsockname()[1]
    print(f"slowproxy port {p} control {c}", flush=True)
    try:
        await asyncio.wait_for(proxy.done.wait(), args.max_seconds)
    except asyncio.TimeoutError:
        print("slowproxy: --max-seconds reached, exiting", file=sys.stderr, flush=True)
    proxy.cut()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to (loopback)")
    ap.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0: any)")
    ap.add_argument("--control-port", type=int, default=0, help="control port on 127.0.0.1 (0: any)")
    ap.add_argument("--max-seconds", type=float, default=1800, help="exit after this long")
    a = ap.parse_args()
    asyncio.run(main(a))

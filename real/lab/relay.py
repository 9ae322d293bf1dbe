#!/usr/bin/env python3
"""relay.py - the lab's latency emulation where the kernel has no netem.

Runs inside one device's network namespace. For each peer it listens on
127.0.0.1:PORT and forwards every connection to the peer's real address,
holding each chunk of bytes for the path's one-way latency in each
direction (the return direction uses the reverse path's latency). The
node's own TCP connection then sees the path's round trip; rates are
still shaped by the kernel (tbf) on the veths the forwarded bytes cross.

What this is not: the forwarded TCP connection runs over a path with no
propagation delay, so its congestion window grows at LAN speed; a real
long-fat path would take longer to ramp up. vss-lab's report says so.

usage: relay.py SPEC_JSON   where SPEC_JSON is a file holding
  [{"listen": 20001, "to": "10.101.0.3:7457", "delay_s": 0.05,
    "back_s": 0.05}, ...]
Bounded: at most MAX_HELD bytes are held per direction; past that the
relay stops reading (TCP pushes back to the sender).
"""
import asyncio
import json
import signal
import sys

MAX_HELD = 8 << 20  # above any path's bandwidth x delay in the scenarios
CHUNK = 256 << 10


async def pump(reader, writer, delay):
    """Copy reader to writer, each chunk delivered `delay` after it
    arrived, in order."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()
    held = 0
    room = asyncio.Event()
    room.set()

    async def deliver():
        nonlocal held
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
            held -= len(data)
            if held <= MAX_HELD:
                room.set()
        writer.close()

    task = asyncio.create_task(deliver())
    try:
        while True:
            await room.wait()
            data = await reader.read(CHUNK)
            if not data:
                break
            held += len(data)
            if held > MAX_HELD:
                room.clear()
            queue.put_nowait((loop.time() + delay, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


def handler(spec):
    async def on_conn(cr, cw):
        host, port = spec["to"].rsplit(":", 1)
        try:
            pr, pw = await asyncio.open_connection(host, int(port))
        except OSError:
            cw.close()
            return
        try:
            await asyncio.gather(pump(cr, pw, spec["delay_s"]),
                                 pump(pr, cw, spec["back_s"]),
                                 return_exceptions=True)
        except asyncio.CancelledError:  # the relay is stopping
            pass
    return on_conn


async def main(path):
    with open(path) as f:
        specs = json.load(f)
    servers = []
    for s in specs:
        servers.append(await asyncio.start_server(handler(s), "127.0.0.1",
                                                  s["listen"]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("relay: ready", flush=True)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

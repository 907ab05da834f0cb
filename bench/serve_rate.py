"""A bounded fixed-rate HTTP client for bench/serve.sh: POSTs one body to URL at RATE
requests a second for SECONDS over keep-alive connections, each request sent on
schedule (not when the previous one returns), and prints p50 / p99 / max latency
in milliseconds and the rate achieved. Standard library only.

    serve_rate.py URL BODY_FILE RATE SECONDS [CONNECTIONS]

CONNECTIONS (default 2) should not exceed the server's threads: cpp-httplib serves a
connection on one thread while it stays open.
"""
import asyncio
import sys
import time
import urllib.parse


async def main(url, body, rate, seconds, connection_count):
    parts = urllib.parse.urlparse(url)
    request = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    latencies, errors = [], 0
    connections = asyncio.Queue()
    for _ in range(connection_count):
        connections.put_nowait(await asyncio.open_connection(parts.hostname, parts.port))

    async def one(scheduled):
        nonlocal errors
        reader, writer = await connections.get()
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            latencies.append(time.perf_counter() - scheduled)
            if b"connection: close" in head.lower():  # the server's keep-alive limit: reconnect
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        except Exception:  # a broken connection counts as an error, the run goes on
            errors += 1
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        connections.put_nowait((reader, writer))

    start = time.perf_counter()
    tasks, n = [], 0
    while True:
        scheduled = start + n / rate
        if scheduled - start >= seconds:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
        n += 1
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    latencies.sort()
    ms = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    print("%10.0f %9.2f %9.2f %9.2f   (%d requests, %d errors)" %
          (len(latencies) / elapsed, ms(0.5), ms(0.99), latencies[-1] * 1000 if latencies else float("nan"), n, errors))


if __name__ == "__main__":
    url, body_file, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    connection_count = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    asyncio.run(main(url, open(body_file, "rb").read(), rate, seconds, connection_count))

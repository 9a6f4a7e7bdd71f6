// Ports for a process that is given its port before it starts (a restarted engine, a system started by the soak
// bench). A port the kernel picks for listen(0) comes from the ephemeral range, which every outgoing connection
// and every other listen(0) also draws from: between the probe and the child's own listen, the port was seen
// taken (the soak's database, on port 0, got the archive's probed port). These are drawn at random below that
// range, where the kernel never hands out ports by itself, and each is checked free by listening on it.
// (get-port and portfinder were considered: the first asks for port 0, the second scans up from 8000 in order,
// which concurrent test files would race on.)
import { readFileSync } from 'node:fs';
import net from 'node:net';

const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (Linux's default when it cannot be read). */
function ephemeralStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // not Linux: the usual default
  }
  return 32_768;
}

function listenOn(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** `n` distinct ports free on 127.0.0.1 now, outside the ephemeral range where it leaves room (listen(0) otherwise). */
export async function freePorts(n: number): Promise<number[]> {
  const high = ephemeralStart();
  const held: net.Server[] = [];
  try {
    for (let attempt = 0; held.length < n; attempt++) {
      if (attempt > 1_000) throw new Error(`no ${n} free ports found on 127.0.0.1`);
      const port = high - LOWEST > 1_000 ? LOWEST + Math.floor(Math.random() * (high - LOWEST)) : 0;
      const server = await listenOn(port);
      if (server) held.push(server);
    }
    return held.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export const freePort = async (): Promise<number> => (await freePorts(1))[0];

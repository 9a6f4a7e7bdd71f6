// The test and bench helper for ports given to a process before it starts.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { expect, it } from 'vitest';
import { freePorts } from './ports.ts';

it('gives distinct free ports below the ephemeral range, which listen(0) and outgoing connections never take', async () => {
  const ports = await freePorts(8);
  expect(new Set(ports).size).toBe(8);
  const ephemeral = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  for (const port of ports) {
    expect(port).toBeGreaterThanOrEqual(10_000);
    expect(port).toBeLessThan(ephemeral);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * A probe for issue 15 (not a test): boot the OVMF fixture on the OVMF machine and print what it
 * got to: the serial output, the commonest exits to userspace and how the run stopped.
 *   node --import tsx scripts/ovmf-probe.ts [maxKvmRuns]
 */
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import type { VcpuExit } from '../src/uapi/vcpu-exit.js';
import { isVmmError } from '../src/vmm/errors.js';
import { createOvmfMachine } from '../src/vmm/ovmf-machine.js';

const firmware = new Uint8Array(
  brotliDecompressSync(readFileSync(new URL('../test/fixtures/ovmf/OVMF.fd.br', import.meta.url))),
);
const m = createOvmfMachine({ firmware });
if (isVmmError(m)) throw new Error(m.message);
const v = m.vmm.addVcpu();
if (isVmmError(v)) throw new Error(v.message);
const exits = new Map<string, number>();
const key = (e: VcpuExit): string =>
  'port' in e
    ? `${e.kind} 0x${e.port.toString(16)}`
    : 'addr' in e
      ? `${e.kind} 0x${e.addr.toString(16)}`
      : e.kind;
const t0 = Date.now();
const r = m.vmm.run({
  maxKvmRuns: Number(process.argv[2] ?? 5000),
  onExit: (_vcpu, e) => {
    exits.set(key(e), (exits.get(key(e)) ?? 0) + 1);
    if (process.env.TRACE_EXITS)
      console.error(key(e), 'data' in e ? [...(e as { data: Uint8Array }).data.subarray(0, 8)] : '');
  },
});
console.log(r.serial);
console.log([...exits].sort((a, b) => b[1] - a[1]).slice(0, 16));
console.log(
  m.pflash?.stats,
  'irqs',
  m.interrupts.pic.acknowledged.join(','),
  'clock',
  m.vmm.platform.clock?.now(),
);
console.log(
  `stop ${JSON.stringify(r.stop)}; ${r.kvmRuns} KVM_RUNs, ${r.vmgexits.length} VMGEXITs, ${Date.now() - t0} ms`,
);

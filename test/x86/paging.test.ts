/**
 * The page walks besides 4-level: 32-bit protected mode with PAE (PDPT, then a 2 MiB PDE or a page
 * table) and with 32-bit paging (a page directory of 4 KiB tables). Each maps a linear page to
 * another physical page, and the guest reads through the alias; accessed bits land in the tables.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { expectExit, HVA, hostBytes, ok, vmWithRam } from '../../src/kvm/test-util.js';
import { flatSegment32 } from '../../src/vmm/long-mode-entry.js';
import { describeEngines, type Engine } from './engines.js';

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const le64 = (v: number): number[] => [...le32(v), 0, 0, 0, 0];

/** 32-bit flat protected mode with paging (CR4 as given), code at 0x1000, then run to the OUT. */
function run32(
  engine: Engine,
  cr4: number,
  tables: [number, number[]][],
  code: number[],
): { data: number[]; host: ReturnType<typeof vmWithRam>['host'] } {
  const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
  const w = (gpa: number, bytes: number[]) =>
    assert.equal(env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
  for (const [gpa, bytes] of tables) w(gpa, bytes);
  w(0x1000, code);
  w(0x2000, [0x5a]);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  const s = ok(vcpuFd.getSregs());
  ok(
    vcpuFd.setSregs({
      ...s,
      cr0: 0x8000_0011n,
      cr3: 0x3000n,
      cr4: BigInt(cr4),
      efer: 0n,
      cs: flatSegment32(8, true),
      ds: flatSegment32(0x10, false),
      ss: flatSegment32(0x10, false),
    }),
  );
  ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rip: 0x1000n, rsp: 0x8000n }));
  const e = expectExit(vcpuFd, 'IoOut');
  expectExit(vcpuFd, 'Hlt');
  return { data: [...e.data], host: env.host };
}

describeEngines('x86 interpreter: PAE and 32-bit paging', (engine) => {
  it('PAE: a 2 MiB identity page and a 4 KiB page at 0x200000 aliasing physical 0x2000', () => {
    const { data, host } = run32(
      engine,
      0x20,
      [
        [0x3000, le64(0x4001)], // PDPT[0] → PD (present; no other bits in a PDPTE)
        [0x4000, [...le64(0x83), ...le64(0x5003)]], // PD[0]: 2 MiB at 0; PD[1] → PT
        [0x5000, le64(0x2003)], // PT[0]: linear 0x200000 → 0x2000
      ],
      [0xa1, ...le32(0x20_0000), 0xe6, 0x80, 0xf4], // mov eax, [0x200000] ; out 0x80, al ; hlt
    );
    assert.deepEqual(data, [0x5a]);
    assert.equal(hostBytes(host, HVA + 0x4008, 1)[0]! & 0x20, 0x20, 'PD[1] accessed');
    assert.equal(hostBytes(host, HVA + 0x5000, 1)[0]! & 0x20, 0x20, 'PT[0] accessed');
  });

  it('32-bit paging: 4 KiB tables, linear 0x10000 aliasing physical 0x2000', () => {
    const pt = Array.from({ length: 16 }, (_, i) => le32((i << 12) | 3)).flat();
    const { data, host } = run32(
      engine,
      0,
      [
        [0x3000, le32(0x4003)], // PDE[0] → PT
        [0x4000, [...pt, ...le32(0x2003)]], // PT[0..15] identity, PT[16]: 0x10000 → 0x2000
      ],
      [0xa1, ...le32(0x1_0000), 0xe6, 0x80, 0xf4], // mov eax, [0x10000] ; out 0x80, al ; hlt
    );
    assert.deepEqual(data, [0x5a]);
    assert.equal(hostBytes(host, HVA + 0x4040, 1)[0]! & 0x20, 0x20, 'PT[16] accessed');
  });
});

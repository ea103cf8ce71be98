/**
 * setup_vmgexit_scratch (shared/spec/vmgexit.md section 2): the checks 0-8 in their order, the exact
 * edges of the GHCB shared buffer and of the 16-page limit, and the write-back that ignores failure.
 *
 * The order is visible where two checks would give different outcomes: a layout error (reflected)
 * must win over an allocation failure (ENOMEM), and an allocation failure over a guest-read failure
 * (EFAULT). So most order tests run with an allocator budget of 0 and a bad layout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROT_READ } from '../../src/host/address-space.js';
import { setupScratch } from '../../src/sev/scratch.js';
import type { SevEsVcpu } from '../../src/sev/sev-es-vcpu.js';
import { KVM_EXIT_IO, KVM_EXIT_MMIO } from '../../src/uapi/exit-reasons.js';
import { GHCB_ERR_INVALID_SCRATCH_AREA } from '../../src/uapi/ghcb.js';
import { KVM_MEM_READONLY } from '../../src/uapi/memslot.js';
import {
  addSlot,
  assertGuestSaw,
  assertOutcome,
  drive,
  type Expected,
  exitsOf,
  fails,
  finish,
  GHCB_GPA,
  ghcbNow,
  handled,
  hostRead,
  ioInByte,
  leakGuard,
  type Machine,
  MMIO_GPA,
  mmioBytes,
  NO_SLOT_GPA,
  PAGE,
  PROFILES,
  type Profile,
  rawMmio,
  rawStringIo,
  reflected,
  runExits,
  SCRATCH_GPA,
  SHARED_END,
  SHARED_GPA,
  SPARE_GPA,
  SPARE_HVA,
  sevMachine,
  userspace,
} from './kit.js';

leakGuard();

const INVALID = reflected(GHCB_ERR_INVALID_SCRATCH_AREA);
const hostFailure = (profile: Profile, errno: 'ENOMEM' | 'EFAULT'): Expected =>
  profile === 'prefix' ? INVALID : fails(errno);

describe('check 0: len == 0 (current only; unreachable from MMIO and string I/O, so called directly)', () => {
  for (const profile of PROFILES) {
    const rejects = profile === 'current';
    it(`[${profile}] setupScratch(len 0) with sw_scratch in the shared buffer ${rejects ? 'reflects INVALID_SCRATCH_AREA' : 'succeeds'}`, () => {
      // Stop while an MMIO read is out in userspace: the GHCB is still mapped, as inside a VMGEXIT.
      const m = sevMachine({ profile, guest: (c) => c.mmioRead(MMIO_GPA, 4) });
      runExits(m.vcpu, 'MmioRead');
      // KVM-internal: the vCPU's SEV-ES state behind the fd, and sw_scratch as this kernel reads it.
      const sev = m.vcpu.vcpu.typeOps as SevEsVcpu;
      assert.equal(sev.scratchGpa, BigInt(SHARED_GPA));
      const ret = setupScratch(sev, true, 0n, sev.scratchGpa, () =>
        assert.fail('no restart without the capability'),
      );
      assert.equal(ret, rejects ? 1 : 0);
      const page = ghcbNow(m as Machine<unknown>);
      assert.deepEqual([page.info1, page.info2], rejects ? [2n, 3n] : [0n, 0n]);
      finish(m as Machine<unknown>);
    });
  }
});

describe('checks 1-6 in order', () => {
  interface Case {
    name: string;
    guest: Parameters<typeof sevMachine>[0]['guest'];
    ghcbVersion?: 1 | 2;
    expect: (p: Profile) => Expected | undefined;
  }
  const cases: Case[] = [
    {
      name: '1 before 4 and 5: sw_scratch 0, 65537 bytes, budget 0 → reflected',
      guest: (c) => rawMmio(c, 'read', MMIO_GPA, 65537, 0),
      expect: () => INVALID,
    },
    {
      name: '2 before 5: wraps past 2^64, budget 0 → reflected',
      guest: (c) => rawMmio(c, 'read', MMIO_GPA, 16, 0xffff_ffff_ffff_fff8n),
      expect: () => INVALID,
    },
    {
      name: '3 before 5: in the GHCB page outside the shared buffer, budget 0 → reflected',
      guest: (c) => rawMmio(c, 'read', MMIO_GPA, 8, GHCB_GPA + 0x400),
      expect: () => INVALID,
    },
    {
      name: "3'' before 5: outside the GHCB on a GHCB v2 VM, budget 0 → reflected",
      ghcbVersion: 2,
      guest: (c) => rawMmio(c, 'read', MMIO_GPA, 8, SCRATCH_GPA),
      expect: (p) => (p === 'current' ? INVALID : undefined),
    },
    {
      name: '4 before 5: outside, 65537 bytes, budget 0 → reflected',
      guest: (c) => rawStringIo(c, 'in', 1, 65537, SCRATCH_GPA),
      expect: () => INVALID,
    },
    {
      name: '5 before 6: no memslot and budget 0 → ENOMEM (seed/current), not EFAULT',
      guest: (c) => rawMmio(c, 'read', MMIO_GPA, 8, NO_SLOT_GPA),
      expect: (p) => hostFailure(p, 'ENOMEM'),
    },
  ];
  for (const c of cases) {
    for (const profile of PROFILES) {
      const want = c.expect(profile);
      if (!want) {
        it(`[${profile}] ${c.name}`, { skip: 'n/a: no GHCB v2 VM in this kernel' }, () => {});
        continue;
      }
      it(`[${profile}] ${c.name}`, () => {
        const m = sevMachine({ profile, budget: 0, ghcbVersion: c.ghcbVersion ?? 1, guest: c.guest });
        const r = drive(m);
        assertOutcome(r, want);
        assertGuestSaw(
          r.guest as never,
          want.kind === 'reflected' ? { reflected: want.error } : { ok: true },
        );
        assert.equal(m.allocator.stats.allocs, 0, 'nothing was allocated');
        finish(m as Machine<unknown>);
      });
    }
  }
});

describe('check 3: the shared buffer [GHCB+0x800, GHCB+0xFF0), both ends', () => {
  const cases: [string, number, number, boolean][] = [
    ['exactly the whole buffer (2032 bytes from GHCB+0x800)', SHARED_GPA, 2032, true],
    ['last 8 bytes, ending exactly at GHCB+0xFF0', SHARED_END - 8, 8, true],
    ['last byte (GHCB+0xFEF)', SHARED_END - 1, 1, true],
    ['one byte before the buffer (GHCB+0x7FF, 1 byte)', SHARED_GPA - 1, 1, false],
    ['starts 1 byte early (GHCB+0x7FF, 2 bytes)', SHARED_GPA - 1, 2, false],
    ['runs 1 byte past the end (GHCB+0xFEF, 2 bytes)', SHARED_END - 1, 2, false],
    ['whole buffer plus one byte (2033 bytes)', SHARED_GPA, 2033, false],
    ['starts at GHCB+0xFF0', SHARED_END, 1, false],
  ];
  for (const profile of PROFILES) {
    for (const [name, gpa, len, ok] of cases) {
      it(`[${profile}] MMIO read, ${name}: ${ok ? `passes (${Math.ceil(len / 8)} exits)` : 'reflected'}`, () => {
        const m = sevMachine({ profile, guest: (c) => rawMmio(c, 'read', MMIO_GPA, len, gpa) });
        const r = drive(m, { maxRuns: 300 });
        if (ok) {
          assertOutcome(r, userspace(...Array(Math.ceil(len / 8)).fill(KVM_EXIT_MMIO)));
          assert.deepEqual([...hostRead(m as Machine<unknown>, gpa, len)], mmioBytes(MMIO_GPA, len));
        } else {
          assertOutcome(r, INVALID);
        }
        finish(m as Machine<unknown>);
      });
    }
  }
  it('[current] GHCB v2 VM: a scratch area inside the shared buffer is accepted', () => {
    const m = sevMachine({
      profile: 'current',
      ghcbVersion: 2,
      guest: (c) => c.ioOutString(0x80, 1, new Uint8Array(16).fill(7)),
    });
    const r = drive(m);
    assertOutcome(r, userspace(KVM_EXIT_IO));
    assertGuestSaw(r.guest, { ok: true });
    finish(m as Machine<unknown>);
  });
});

describe('check 4: 16 pages outside the GHCB', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] INS of exactly 65536 bytes outside passes: 16 exits of 4096, data written back`, () => {
      const m = sevMachine({ profile, guest: (c) => rawStringIo(c, 'in', 1, 65536, SCRATCH_GPA) });
      const r = drive(m);
      assertOutcome(r, userspace(...Array(16).fill(KVM_EXIT_IO)));
      assert.deepEqual(
        exitsOf(r)
          .filter((x) => 'exit' in x && x.exit === 'IoIn')
          .map((x) => 'count' in x && x.count),
        Array(16).fill(4096),
      );
      const back = hostRead(m as Machine<unknown>, SCRATCH_GPA, 65536);
      assert.equal(back[0], ioInByte(0));
      assert.equal(back[65535], ioInByte(65535));
      assert.equal(m.allocator.peak(), 65536, 'one bounce buffer of exactly 16 pages');
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] INS of 65537 bytes outside: reflected, nothing allocated`, () => {
      const m = sevMachine({ profile, guest: (c) => rawStringIo(c, 'in', 1, 65537, SCRATCH_GPA) });
      const r = drive(m);
      assertOutcome(r, INVALID);
      assert.equal(m.allocator.stats.allocs, 0);
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] count = INT_MAX passes the count check, then fails check 4 (reflected, not EINVAL)`, () => {
      const m = sevMachine({ profile, guest: (c) => rawStringIo(c, 'out', 1, 0x7fff_ffff, SCRATCH_GPA) });
      assertOutcome(drive(m), INVALID);
      finish(m as Machine<unknown>);
    });
  }
});

describe('checks 5-6: the host-side failures', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] allocation fails: ${profile === 'prefix' ? 'reflected' : 'ENOMEM'}; nothing stays allocated`, () => {
      const m = sevMachine({
        profile,
        allocFaults: { failNth: 1 },
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 8, SCRATCH_GPA),
      });
      const r = drive(m);
      assertOutcome(r, hostFailure(profile, 'ENOMEM'));
      assert.equal(m.allocator.stats.failures, 1);
      assert.equal(m.allocator.liveCount(), 0);
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] guest read fails: ${profile === 'prefix' ? 'reflected' : 'EFAULT'}; the buffer is freed first`, () => {
      const m = sevMachine({
        profile,
        host: (host) => host.unmap(SPARE_HVA, PAGE),
        guest: (c) => rawMmio(c, 'write', MMIO_GPA, 8, SPARE_GPA),
      });
      const r = drive(m);
      assertOutcome(r, hostFailure(profile, 'EFAULT'));
      assert.equal(m.allocator.stats.allocs, 1);
      assert.equal(m.allocator.liveCount(), 0, 'freed before KVM_RUN returned');
      finish(m as Machine<unknown>);
    });
  }
});

describe('write-back (sev_es_unmap_ghcb): failure is ignored', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] INS into a read-only (PROT_READ) host page: read works, write-back fails, guest sees success`, () => {
      const m = sevMachine({
        profile,
        host: (host) => {
          host.write(SPARE_HVA, new Uint8Array(8).fill(0xcc));
          host.protect(SPARE_HVA, PAGE, PROT_READ);
        },
        guest: (c) => c.ioInString(0x60, 1, 8, { gpa: BigInt(SPARE_GPA) }),
      });
      const r = drive(m);
      assertOutcome(r, userspace(KVM_EXIT_IO));
      assertGuestSaw(r.guest!.result, { ok: true, info2: 0n });
      assert.deepEqual([...r.guest!.data], Array(8).fill(0xcc), 'the data never reached guest memory');
      assert.equal(r.guestReturned, true);
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] scratch in a KVM_MEM_READONLY slot (kvm_write_guest fails on a read-only slot)`, {
      skip:
        profile === 'current'
          ? 'n/a: current KVM refuses KVM_MEM_READONLY for protected-state VMs'
          : undefined,
    }, () => {
      const m = sevMachine({
        profile,
        host: (host, vm) => {
          host.mapAnonymous(0x7f00_2000_0000, PAGE);
          addSlot(vm, 2, 0x20_0000, PAGE, 0x7f00_2000_0000, KVM_MEM_READONLY);
        },
        guest: (c) => c.mmioRead(MMIO_GPA, 8, { gpa: 0x20_0000n }),
      });
      const r = drive(m);
      assertOutcome(r, userspace(KVM_EXIT_MMIO));
      assertGuestSaw(r.guest!.result, { ok: true });
      assert.deepEqual([...r.guest!.data], Array(8).fill(0));
      finish(m as Machine<unknown>);
    });
  }
});

describe('0-byte requests reach setupScratch only under prefix/seed', () => {
  for (const profile of PROFILES) {
    const current = profile === 'current';
    it(`[${profile}] OUTS with count 0 and sw_scratch 0: ${current ? 'handled, nothing done' : 'reflected (check 1)'}`, () => {
      const m = sevMachine({ profile, guest: (c) => rawStringIo(c, 'out', 1, 0, 0) });
      assertOutcome(drive(m), current ? handled() : INVALID);
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] OUTS with count 0 and a valid scratch: handled, no exit`, () => {
      const m = sevMachine({ profile, guest: (c) => rawStringIo(c, 'out', 1, 0, SCRATCH_GPA) });
      const r = drive(m);
      assertOutcome(r, handled());
      assert.deepEqual(
        exitsOf(r).map((x) => 'exit' in x && x.exit),
        ['Hlt'],
      );
      finish(m as Machine<unknown>);
    });
  }
});

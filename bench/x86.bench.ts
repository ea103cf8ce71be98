/**
 * The x86 CPU's speed: guest instructions per second on a 12-instruction integer loop in long mode
 * with 4-level paging (loads and stores through the TLB, ALU ops with lazy flags, a conditional
 * branch), run through KVM_RUN as a VMM runs it: KVM's #VMEXIT budget ends each run (each #VMEXIT
 * is 65,536 guest instructions, the CPU's run budget). Two rows: the interpreter alone, and the
 * default engine, where the loop's block runs as generated JavaScript once it is hot (compile/).
 * Baseline, in the same run: the same loop as straight-line JavaScript over u32 halves, with no
 * flags, RIP or fault checks to keep — how far either engine is from plain JavaScript.
 */
import { readFileSync } from 'node:fs';
import type { X86Cpu, X86CpuOptions } from '../src/cpu/x86/cpu.js';
import { GhcbClient } from '../src/guest/ghcb-client.js';
import type { ModelVcpuFd } from '../src/kvm/index.js';
import { KVM_X86_SEV_ES_VM } from '../src/uapi/caps.js';
import { type Errno, isErrno } from '../src/uapi/errno.js';
import { DEFAULT_CBIT } from '../src/uapi/ghcb.js';
import { encodeSevInit, KVM_SEV_INIT2 } from '../src/uapi/sev-cmd.js';
import { identityPageTables, setLongModeEntry } from '../src/vmm/long-mode-entry.js';
import { modelPlatform } from '../src/vmm/platform.js';
import { isSevLaunchError, launchSevEs } from '../src/vmm/sev-launch.js';
import { sevEsFirmwareVm } from '../test/x86/sev-es-firmware.js';
import type { Batch, BenchRow, Prepared } from './harness.js';
import { inKernel, machine } from './vmgexit.bench.js';

/** Guest instructions per #VMEXIT: the CPU's run budget per VMRUN (KVM passes 65,536). */
export const PER_VMEXIT = 65_536;

/**
 * loop: add rax, rbx; xor rdx, rax; mov rsi, [rdi]; add rsi, rcx; mov [rdi+8], rsi; shl rbx, 1;
 *       or rbx, 1; sub rcx, 1; and rdx, 0xffff; lea r8, [rax+rdx*2]; cmp rcx, r9; jne loop
 */
const LOOP = [
  0x48, 0x01, 0xd8, 0x48, 0x31, 0xc2, 0x48, 0x8b, 0x37, 0x48, 0x01, 0xce, 0x48, 0x89, 0x77, 0x08, 0x48, 0xd1,
  0xe3, 0x48, 0x83, 0xcb, 0x01, 0x48, 0x83, 0xe9, 0x01, 0x48, 0x81, 0xe2, 0xff, 0xff, 0x00, 0x00, 0x4c, 0x8d,
  0x04, 0x50, 0x4c, 0x39, 0xc9, 0x75, 0xd5,
];

function ok<T>(r: T | Errno): T {
  if (isErrno(r)) throw new Error(String(r));
  return r;
}

/**
 * A long-mode vCPU with identity-mapped 2 MiB, running LOOP at 0x1000 (data at 0x2000). `sev`: an
 * SEV-ES VM instead, its page tables with the C-bit in every entry and all 64 KiB measured and
 * encrypted at launch, so every fetch, walk, load and store is private.
 */
function loopMachine(x86: X86CpuOptions, sev = false): { fd: ModelVcpuFd; cpu: X86Cpu } {
  const platform = modelPlatform({ profile: 'current', cpu: 'x86', x86 });
  const { kvm, memory } = platform;
  const vm = ok(kvm.createVm(sev ? KVM_X86_SEV_ES_VM : 0));
  if (sev) {
    const init = ok(memory.mapAnonymous(0x1000));
    ok(memory.write(init, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 })));
    ok(vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(init), error: 0, sevFd: 0 }));
  }
  const hva = ok(memory.mapAnonymous(0x10000));
  const set = vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: 0x10000n,
    userspaceAddr: BigInt(hva),
  });
  if (set) throw new Error(String(set));
  const w = (gpa: number, bytes: Uint8Array): void => void ok(memory.write(hva + gpa, bytes));
  for (const t of identityPageTables(0x3000, 2 << 20, sev ? DEFAULT_CBIT : undefined)) w(t.gpa, t.bytes);
  w(0x1000, Uint8Array.from(LOOP));
  const fd = ok(vm.createVcpu(0)) as ModelVcpuFd;
  const cpu = fd.vcpu.backend as X86Cpu;
  ok(setLongModeEntry(fd, { rip: 0x1000, rsp: 0x8000, cr3: 0x3000 }));
  ok(fd.setRegs({ ...ok(fd.getRegs()), rdi: 0x2000n, rcx: 0x7fff_ffff_ffffn, rbx: 1n }));
  if (sev) {
    const r = launchSevEs(vm, memory, { sevFd: platform.openSevDevice(), measure: [{ hva, len: 0x10000 }] });
    if (isSevLaunchError(r)) throw new Error(`launch: ${r.command}: ${r.errno}`);
  }
  return { fd, cpu };
}

/** n #VMEXITs of the loop: KVM's budget of #VMEXITs per KVM_RUN ends it (EINTR). */
export function loop(x86: X86CpuOptions, sev = false): Batch {
  const { fd, cpu } = loopMachine(x86, sev);
  const vcpu = fd.vcpu;
  return (n) => {
    vcpu.maxVmexitsPerRun = n;
    const r = vcpu.run();
    if (r !== -4) throw new Error(`KVM_RUN returned ${r}, expected -EINTR from the #VMEXIT budget`);
    return cpu.instructions;
  };
}

/** The loop's work as straight-line JavaScript: 65,536 instructions' worth per operation. */
function compiledShape(): Batch {
  const mem = new Uint32Array(4);
  let raxLo = 0;
  let rbxLo = 1;
  let rcxLo = 0xffff_ffff;
  let rdxLo = 0;
  let r8Lo = 0;
  let resLo = 0;
  return (n) => {
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < PER_VMEXIT / 12; j++) {
        raxLo = (raxLo + rbxLo) >>> 0;
        rdxLo = (rdxLo ^ raxLo) >>> 0;
        const rsi = (mem[0]! + rcxLo) >>> 0;
        mem[2] = rsi;
        rbxLo = ((rbxLo << 1) | 1) >>> 0;
        rcxLo = (rcxLo - 1) >>> 0;
        rdxLo &= 0xffff;
        r8Lo = (raxLo + rdxLo * 2) >>> 0;
        resLo = rcxLo; // the lazy flags record of CMP
        if (resLo === 0) break;
      }
    }
    return r8Lo;
  };
}

/**
 * An SEV-ES vCPU on the interpreter running test/x86/fixtures/sev-es-cpuid-loop.s from the reset
 * vector: CPUID in a loop, each a #VC whose handler asks with the GHCB MSR protocol (one VMGEXIT).
 */
export function vcRoundTrips(): Batch {
  const rom = readFileSync(new URL('../test/x86/fixtures/sev-es-cpuid-loop.bin', import.meta.url));
  return inKernel(sevEsFirmwareVm(rom).vcpu as ModelVcpuFd);
}

export const rows: readonly BenchRow[] = [
  {
    name: 'x86 integer loop, long mode + paging (interpreted)',
    unit: 'instructions/s',
    perOp: PER_VMEXIT,
    setup: (): Prepared => ({ run: loop({ compile: false }), baseline: compiledShape() }),
  },
  {
    name: 'x86 integer loop, long mode + paging (compiled)',
    unit: 'instructions/s',
    perOp: PER_VMEXIT,
    target: { value: 150e6 },
    setup: (): Prepared => ({ run: loop({ compile: true }), baseline: compiledShape() }),
  },
  {
    // The design keeps private RAM from decrypting per access: a private page is decrypted once
    // into the page the TLB holds. Baseline: the same loop in shared memory, same engine.
    name: 'x86 integer loop, private memory (SEV-ES, compiled)',
    unit: 'instructions/s',
    perOp: PER_VMEXIT,
    setup: (): Prepared => ({ run: loop({ compile: true }, true), baseline: loop({ compile: true }) }),
  },
  {
    // Baseline: the scripted guest's MSR-protocol CPUID (its #VC is a TypeScript call, not code).
    name: 'x86 #VC round trip (CPUID, MSR protocol)',
    unit: 'VMEXITs/s',
    setup: (): Prepared => ({
      run: vcRoundTrips(),
      baseline: inKernel(
        machine(function* (cpu) {
          const ghcb = new GhcbClient(cpu, 0x1000, { version: 2 });
          for (;;) yield* ghcb.cpuidMsr(0x8000_0000, 0);
        }, true),
      ),
    }),
  },
];

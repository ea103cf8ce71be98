/**
 * The speed anchor: an exit round trip on the machine's real /dev/kvm (a real-mode guest looping
 * on OUT, KVM_RUN answered from Node through koffi: `HostVcpuFd.runRaw`) beside the model's
 * userspace round trip (a scripted guest looping on OUT: `ModelVcpuFd.runRaw`), both set up through
 * the same fd interface, measured in the same run, interleaved. ratio = real / model.
 * Listed only where /dev/kvm is usable (see `sevbox hostkvm`); elsewhere this group is empty.
 */
import {
  asm,
  type HostKvmFd,
  openHostKvm,
  resetRealMode,
  smokeTestHostKvm,
  TINY_GUEST_CODE,
  TINY_GUEST_RAM,
  tinyRealModeGuest,
} from '../src/hostkvm/index.js';
import { Errno } from '../src/uapi/errno.js';
import { modelPlatform } from '../src/vmm/platform.js';
import type { Batch, BenchRow, Prepared } from './harness.js';

const PORT = 0x80;
/** Deadline of one measured batch (batches last ~25 ms; this only stops a guest that hangs). */
const BATCH_DEADLINE_MS = 10_000;

function openUsable(): HostKvmFd | undefined {
  const opened = openHostKvm();
  if (!opened.ok) return undefined;
  if (smokeTestHostKvm(opened.kvm).ok) return opened.kvm;
  opened.kvm.close();
  return undefined;
}

/** The value, or a thrown error naming the errno (a benchmark's setup has no test to fail). */
function ok<T>(what: string, v: T | Errno): T {
  if (v instanceof Errno) throw new Error(`${what}: ${v}`);
  return v;
}

/** n real round trips: KVM_RUN -> KVM_EXIT_IO (OUT) -> back into the guest, under one watchdog guard. */
function realOut(kvm: HostKvmFd): Batch {
  const code = asm().movDx(PORT);
  const loop = code.here;
  const { vcpu } = ok('tiny guest', tinyRealModeGuest(kvm, code.outDx(1).jmp(loop).bytes()));
  const run = vcpu.runArea;
  return (n) =>
    kvm.watchdog.guard(BATCH_DEADLINE_MS, () => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const r = vcpu.runRaw();
        if (r !== 0)
          throw new Error(
            `KVM_RUN returned ${r}${vcpu.lastRunTimedOut ? ' (watchdog: the guest hung)' : ''}`,
          );
        acc += run.exitReason;
      }
      return acc;
    });
}

/** n model round trips of the same guest (vmgexit.bench.ts's null OUT), on the same memory map. */
function modelOut(): Batch {
  const p = modelPlatform();
  p.guests.load(0, {
    program: function* (cpu) {
      for (;;) yield* cpu.out(PORT, 1, 0);
    },
  });
  const vm = ok('KVM_CREATE_VM', p.kvm.createVm());
  const hva = ok('mmap', p.memory.mapAnonymous(TINY_GUEST_RAM));
  ok(
    'KVM_SET_USER_MEMORY_REGION',
    vm.setUserMemoryRegion({
      slot: 0,
      flags: 0,
      guestPhysAddr: 0n,
      memorySize: BigInt(TINY_GUEST_RAM),
      userspaceAddr: BigInt(hva),
    }),
  );
  const vcpu = ok('KVM_CREATE_VCPU', vm.createVcpu(0));
  ok('resetRealMode', resetRealMode(vcpu, TINY_GUEST_CODE, TINY_GUEST_RAM));
  const run = vcpu.runArea;
  return (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const r = vcpu.runRaw();
      if (r !== 0) throw new Error(`model KVM_RUN returned ${r}`);
      acc += run.exitReason;
    }
    return acc;
  };
}

const host = openUsable();

/** The real-/dev/kvm row, when there is one. */
export const rows: readonly BenchRow[] = host
  ? [
      {
        name: 'exit round trip: real /dev/kvm OUT (baseline: model OUT)',
        unit: 'KVM_RUNs/s',
        setup: (): Prepared => ({ run: realOut(host), baseline: modelOut() }),
      },
    ]
  : [];

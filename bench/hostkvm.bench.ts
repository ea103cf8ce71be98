/**
 * The speed anchor: an exit round trip on the machine's real /dev/kvm (a real-mode guest looping
 * on OUT, KVM_RUN answered from Node through koffi) beside the model's userspace round trip (a
 * scripted guest looping on OUT), measured in the same run, interleaved. ratio = real / model.
 * Listed only where /dev/kvm is usable (see `sevbox hostkvm`); elsewhere this group is empty.
 */
import { ScriptedCpu } from '../src/cpu/scripted.js';
import { asm, type HostKvm, openHostKvm, smokeTestHostKvm, tinyRealModeGuest } from '../src/hostkvm/index.js';
import { Kvm } from '../src/kvm/index.js';
import type { Batch, BenchRow, Prepared } from './harness.js';

const PORT = 0x80;
/** Deadline of one measured batch (batches last ~25 ms; this only stops a guest that hangs). */
const BATCH_DEADLINE_MS = 10_000;

function openUsable(): HostKvm | undefined {
  const opened = openHostKvm();
  if (!opened.ok) return undefined;
  if (smokeTestHostKvm(opened.kvm).ok) return opened.kvm;
  opened.kvm.close();
  return undefined;
}

/** n real round trips: KVM_RUN -> KVM_EXIT_IO (OUT) -> back into the guest, under one watchdog guard. */
function realOut(kvm: HostKvm): Batch {
  const code = asm().movDx(PORT);
  const loop = code.here;
  const { vcpu } = tinyRealModeGuest(kvm, code.outDx(1).jmp(loop).bytes());
  const run = vcpu.runArea;
  return (n) =>
    kvm.watchdog.guard(BATCH_DEADLINE_MS, () => {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const r = vcpu.runRaw();
        if (r !== 0) throw new Error(`KVM_RUN returned ${r}`);
        acc += run.exitReason;
      }
      return acc;
    });
}

/** n model round trips of the same guest (vmgexit.bench.ts's null OUT). */
function modelOut(): Batch {
  const kvm = new Kvm();
  const vm = kvm.createVm();
  const HVA = 0x7f00_0000_0000;
  kvm.host.mapAnonymous(HVA, 0x2000);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: 0x2000n,
    userspaceAddr: BigInt(HVA),
  });
  const vcpu = vm.createVcpu(
    0,
    new ScriptedCpu(function* (cpu) {
      for (;;) yield* cpu.out(PORT, 1, 0);
    }),
  );
  return (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      if (vcpu.runRaw() !== 0) throw new Error('KVM_RUN failed');
      acc += vcpu.runArea.exitReason;
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
        unit: 'exits/s',
        setup: (): Prepared => ({ run: realOut(host), baseline: modelOut() }),
      },
    ]
  : [];

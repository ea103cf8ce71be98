import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadScenario } from '../scenario/load.js';
import { GHCB_OFF_SW_EXIT_CODE, GHCB_OFF_USAGE, GHCB_SIZE } from '../uapi/ghcb.js';
import { EXPLORE_TRACE_VERSION, type ExploreTrace } from './model.js';
import { recordEvents } from './record.js';
import { recordScenario } from './scenario.js';

async function record(file: string): Promise<ExploreTrace> {
  const loaded = await loadScenario(new URL(`../../examples/${file}`, import.meta.url).pathname);
  assert.ok('scenario' in loaded, `${file} did not load`);
  return recordScenario(loaded.scenario);
}

/** A kept GHCB page, its trailing zeros put back. */
const page = (t: ExploreTrace, i: number): DataView => {
  const b = new Uint8Array(GHCB_SIZE);
  b.set(Buffer.from(t.ghcbs[i]!, 'base64'));
  return new DataView(b.buffer);
};

describe('the explorer recorder', () => {
  it('lanes a hostile GHCB run: each VMGEXIT on the guest lane with its page, KVM refusing it', async () => {
    const t = await record('hostile-ghcb.yaml');
    assert.equal(t.version, EXPLORE_TRACE_VERSION);
    assert.deepEqual(t.source, { kind: 'scenario', name: 'a hostile GHCB', profile: 'seed' });
    const vmgexits = t.events.filter((e) => e.kind === 'vmgexit');
    // Seven raw or ordinary requests; the one with GHCB MSR 0 never reaches KVM's GHCB path.
    assert.equal(vmgexits.length, 6);
    assert.deepEqual(
      vmgexits.map((e) => e.outcome),
      ['reflected', 'reflected', 'reflected', 'reflected', 'reflected', 'handled'],
    );
    // The first: ghcb_usage 1, as KVM read the page (the guest wrote usage 1 and exit code 0x72).
    const first = vmgexits[0]!;
    assert.equal(first.lane, 'guest');
    assert.equal(first.family, 'SVM_EXIT_CPUID');
    const p = page(t, first.ghcb!);
    assert.equal(p.byteLength, GHCB_SIZE);
    assert.equal(p.getUint32(GHCB_OFF_USAGE, true), 1);
    assert.equal(p.getBigUint64(GHCB_OFF_SW_EXIT_CODE, true), 0x72n);
    // KVM's refusal is on its lane, tied to that VMGEXIT, with the rule that decided it.
    const refusal = t.events.find((e) => e.kind === 'ghcb-error' && e.vmgexit === first.vmgexit)!;
    assert.equal(refusal.lane, 'kvm');
    assert.match(refusal.label, /INVALID_USAGE/);
    assert.equal(refusal.outcome, 'reflected');
    // Every event is numbered in order.
    assert.deepEqual(
      t.events.map((e) => e.i),
      t.events.map((_, i) => i),
    );
  });

  it('keeps the memslots and the state of the host pages behind them at the end', async () => {
    const loaded = await loadScenario(
      new URL('../../examples/demo/6-efault-unmapped-hva.yaml', import.meta.url).pathname,
    );
    assert.ok('scenario' in loaded);
    const t = recordScenario(loaded.scenario);
    assert.ok(t.memslots && t.memslots.length > 0);
    // Every page kept once: the indices the VMGEXITs use are all there, and no two pages are equal.
    assert.equal(new Set(t.ghcbs).size, t.ghcbs.length);
    // The scenario's VMM unmapped a page of RAM: the map shows a hole of unmapped pages in the slot.
    const states = t.memslots.flatMap((m) => m.host.map((h) => h.state));
    // The VMM's munmap is on its lane, at the step that asked for it, before the EFAULT it causes.
    const action = t.events.find((e) => e.kind === 'host-action')!;
    assert.equal(action.lane, 'vmm');
    assert.equal(action.step, 0);
    assert.match(action.label, /munmap of the page\(s\) behind gpa 0x8000 \+ 0x1000/);
    const failed = t.events.find((e) => e.kind === 'run-error')!;
    assert.ok(action.i < failed.i, 'the unmap comes before the failed KVM_RUN');
    assert.ok(states.includes('unmapped'), JSON.stringify(t.memslots));
    assert.ok(states.includes('anonymous'));
    for (const m of t.memslots) {
      const pages = m.host.reduce((n, h) => n + h.pages, 0);
      assert.equal(pages * 4096, Number(m.size), `slot ${m.slot}: runs cover the slot`);
    }
  });

  it('puts exits to userspace on the VMM lane, with their VMGEXIT and its outcome', async () => {
    const t = await record('mmio.yaml');
    const exits = t.events.filter(
      (e) => e.lane === 'vmm' && e.kind === 'exit' && e.label === 'KVM_EXIT_MMIO',
    );
    assert.ok(exits.length > 0, 'MMIO exits to the VMM');
    for (const x of exits) {
      assert.notEqual(x.vmgexit, undefined);
      assert.equal(x.outcome, 'userspace');
      const v = t.events.find((e) => e.kind === 'vmgexit' && e.vmgexit === x.vmgexit)!;
      assert.match(v.family!, /MMIO/);
    }
  });

  it('ties each #VC (the debug view) to the next VMGEXIT of its vCPU, with that VMGEXIT’s family', () => {
    const t = recordEvents(
      [
        { name: 'sevbox_debug_vc', vcpu: 0, errorCode: 0x400, rip: 0xfffff010n },
        { name: 'sevbox_debug_vc', vcpu: 1, errorCode: 0x72, rip: 0x1000n },
        { name: 'kvm_vmgexit_enter', vcpu: 0, exitCode: 0x80000001n, info1: 0xfed00000n, info2: 4n },
        { name: 'kvm_userspace_exit', vcpu: 0, reason: 6, errno: 0 },
        { name: 'kvm_vmgexit_exit', vcpu: 0, exitCode: 0x80000001n, info1: 0n, info2: 0n },
      ],
      { kind: 'trace', name: 't.jsonl' },
      'end',
    );
    assert.deepEqual(
      t.events.map((e) => [e.lane, e.kind, e.vcpu, e.vmgexit, e.family]),
      [
        // The MMIO #VC (error code SVM_EXIT_NPF) is the MMIO read's; vCPU 1's never led to a VMGEXIT.
        ['guest', 'vc', 0, 0, 'SVM_VMGEXIT_MMIO_READ'],
        ['guest', 'vc', 1, undefined, 'SVM_EXIT_CPUID'],
        ['guest', 'vmgexit', 0, 0, 'SVM_VMGEXIT_MMIO_READ'],
        ['vmm', 'exit', 0, 0, 'SVM_VMGEXIT_MMIO_READ'],
        ['kvm', 'vmgexit-done', 0, 0, 'SVM_VMGEXIT_MMIO_READ'],
      ],
    );
    assert.equal(t.events[0]!.label, '#VC SVM_EXIT_NPF at rip 0xfffff010');
    assert.equal(t.events[0]!.outcome, 'userspace');
  });

  it('records an encrypted guest: its #VCs from the CPU and its private pages', async () => {
    const loaded = await loadScenario(
      new URL('../../examples/machine-code/cpuid.yaml', import.meta.url).pathname,
    );
    assert.ok('scenario' in loaded);
    const t = recordScenario(loaded.scenario);
    const vcs = t.events.filter((e) => e.kind === 'vc');
    assert.ok(vcs.length > 0);
    for (const vc of vcs) {
      assert.equal(vc.detail?.error_code, '0x72', 'CPUID raises #VC(SVM_EXIT_CPUID)');
      const head = t.events.find((e) => e.vmgexit === vc.vmgexit && e.kind !== 'vc')!;
      assert.ok(head.i > vc.i, 'the #VC comes before the request its handler made');
      assert.ok(head.kind === 'vmgexit' || head.kind === 'msr-protocol');
    }
    // The firmware's launched pages and its stack are private; the GHCB is shared.
    const runs = t.memslots!.flatMap((m) => m.encryption ?? []);
    assert.ok(runs.some((r) => r.state === 'private'));
    assert.ok(runs.some((r) => r.state === 'shared'));
    for (const m of t.memslots!)
      assert.equal(
        (m.encryption ?? []).reduce((n, r) => n + r.pages, 0) * 4096,
        Number(m.size),
        `slot ${m.slot}: encryption runs cover the slot`,
      );
    // An unprotected guest's memory has no such view.
    const plain = await record('unprotected.yaml');
    assert.ok(plain.memslots!.every((m) => m.encryption === undefined));
    assert.equal(plain.events.filter((e) => e.kind === 'vc').length, 0);
  });

  it('records a trace replayed without memory: VMGEXITs without pages', () => {
    const t = recordEvents(
      [
        { name: 'kvm_vmgexit_enter', vcpu: 0, exitCode: 0x7bn, info1: 0x80n, info2: 0n, ghcbGpa: 0x1000 },
        { name: 'kvm_userspace_exit', vcpu: 0, reason: 2, errno: 0 },
        { name: 'kvm_vmgexit_exit', vcpu: 0, exitCode: 0x7bn, info1: 0n, info2: 0n },
      ],
      { kind: 'trace', name: 't.jsonl' },
      'end',
    );
    assert.deepEqual(
      t.events.map((e) => [e.lane, e.kind, e.vmgexit, e.outcome, e.family]),
      [
        ['guest', 'vmgexit', 0, 'userspace', 'SVM_EXIT_IOIO'],
        ['vmm', 'exit', 0, 'userspace', 'SVM_EXIT_IOIO'],
        ['kvm', 'vmgexit-done', 0, 'userspace', 'SVM_EXIT_IOIO'],
      ],
    );
    assert.equal(t.events[0]!.ghcb, undefined);
    assert.deepEqual(t.ghcbs, []);
  });
});

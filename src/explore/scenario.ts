/**
 * A scenario run recorded for the explorer: the scenario runner's own run (its machine, policies
 * and host actions), with the recorder on KVM's trace and reading each GHCB page through the VMM.
 */
import { describeStop } from '../scenario/describe.js';
import { runScenario } from '../scenario/run.js';
import type { ProfileName, Scenario } from '../scenario/schema.js';
import { memslotsOf } from './memory.js';
import type { ExploreTrace } from './model.js';
import { TraceRecorder } from './record.js';

/** Run `scenario` (under `profile` instead of its own, if given) and record it. */
export function recordScenario(scenario: Scenario, opts: { profile?: ProfileName } = {}): ExploreTrace {
  const recorder = new TraceRecorder();
  let memslots: ExploreTrace['memslots'];
  const report = runScenario(scenario, {
    atEnd: (vmm) => {
      memslots = memslotsOf(vmm);
    },
    ...(opts.profile ? { profile: opts.profile } : {}),
    trace: (e) => recorder.add(e),
    debugVc: (e) => recorder.add(e),
    onHostAction: (a, step, error) => {
      const v = a.value as Record<string, unknown>;
      const detail: Record<string, string> = { action: a.key };
      for (const [k, x] of Object.entries(v)) {
        detail[k] =
          typeof x === 'number' || typeof x === 'bigint' ? `0x${x.toString(16)}` : String(x).slice(0, 64);
      }
      if (error) detail.error = error;
      const what = {
        unmap: () => `munmap of the page(s) behind gpa ${detail.gpa} + ${detail.size}`,
        truncate: () => `ftruncate ${detail.file} to ${detail.size}`,
        populate: () => `UFFDIO_COPY at gpa ${detail.gpa}`,
        'set-memory-region': () =>
          `KVM_SET_USER_MEMORY_REGION slot ${detail.slot}: gpa ${detail.gpa} + ${detail.size}, flags ${detail.flags}`,
        'enable-cap': () => `KVM_ENABLE_CAP ${detail.cap}`,
        'immediate-exit': () => `immediate_exit = ${detail.value} on vCPU ${detail.vcpu}`,
      }[a.key]();
      recorder.addHostAction(error ? `${what} (failed: ${error})` : what, detail, step);
    },
    onMachine: (vmm) =>
      recorder.setReader((gpa, length) => {
        const bytes = new Uint8Array(length);
        return vmm.readGpa(gpa, bytes) ? undefined : bytes;
      }),
  });
  const end = report.stop ? describeStop(report.stop) : 'the machine could not be built';
  return recorder.finish({ kind: 'scenario', name: report.name, profile: report.profile }, end, memslots);
}

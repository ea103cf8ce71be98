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
    onMachine: (vmm) =>
      recorder.setReader((gpa, length) => {
        const bytes = new Uint8Array(length);
        return vmm.readGpa(gpa, bytes) ? undefined : bytes;
      }),
  });
  const end = report.stop ? describeStop(report.stop) : 'the machine could not be built';
  return recorder.finish({ kind: 'scenario', name: report.name, profile: report.profile }, end, memslots);
}

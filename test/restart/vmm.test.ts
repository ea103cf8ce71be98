/**
 * The VMM's resolvers (policy `resolve`) on scenario machines: each host-side fault kind fixed by its
 * resolver × {no capability (the VMM's own diagnosis), metadata only, metadata + restart}. Without
 * restart the guest reads success with no data (vmgexit.md section 6); with it the device's value.
 * Retries are bounded; every run ends with no kernel memory leaked (runScenario checks it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScenarioError, isScenarioError } from '../../src/scenario/errors.js';
import { parseScenario } from '../../src/scenario/load.js';
import { formatReport, runScenario } from '../../src/scenario/run.js';

type Mode = 'off' | 'metadata' | 'restart';
const CAPS: Record<Mode, string> = {
  off: '',
  metadata: ', capabilities: [vmgexit-fault-info]',
  restart: ', capabilities: [vmgexit-fault-info, vmgexit-restart]',
};

interface Case {
  readonly name: string;
  readonly ram: string;
  readonly scratch: string;
  readonly host?: string;
  readonly policies: string;
  readonly errno: 'EFAULT' | 'ENOMEM';
  readonly budget?: number;
  /** What the guest reads without restart (the fixed page's bytes). */
  readonly lost: string;
}

const CASES: readonly Case[] = [
  {
    name: 'populate-missing (post-copy, userfault-missing)',
    ram: '- { name: lazy, gpa: 0x10000, size: 0x4000, backing: lazy, source: { fill: 0x5a } }',
    scratch: '0x12000',
    policies: 'efault: { action: resolve, resolvers: [populate-missing], maxRetries: 3 }',
    errno: 'EFAULT',
    lost: '5a5a5a5a',
  },
  {
    name: 'extend-file (virtiofs DAX, beyond EOF)',
    ram: '- { name: dax, gpa: 0x10000, size: 0x4000, backing: file, file: dax }',
    scratch: '0x12000',
    host: 'host: [{ truncate: { file: dax, size: 0x1000 } }]',
    policies: 'efault: { action: resolve, resolvers: [populate-missing, extend-file], maxRetries: 3 }',
    errno: 'EFAULT',
    lost: '00000000',
  },
  {
    name: 'remap (hva unmapped)',
    ram: '- { name: spare, gpa: 0x10000, size: 0x4000 }',
    scratch: '0x12000',
    host: 'host: [{ unmap: { gpa: 0x12000, size: 0x1000 } }]',
    policies: 'efault: { action: resolve, resolvers: [remap], maxRetries: 3 }',
    errno: 'EFAULT',
    lost: '00000000',
  },
  {
    name: 'add-memslot (no memslot)',
    ram: '',
    scratch: '0x20000000',
    policies: 'efault: { action: resolve, resolvers: [populate-missing, add-memslot], maxRetries: 3 }',
    errno: 'EFAULT',
    lost: '00000000',
  },
  {
    name: 'raise-budget (ENOMEM)',
    ram: '',
    scratch: '0x4000',
    budget: 0,
    policies: 'enomem: { action: raise-budget, maxRetries: 3 }',
    errno: 'ENOMEM',
    lost: '00000000',
  },
];

function yaml(c: Case, mode: Mode, profile: 'seed' | 'current', expect: string): string {
  return `name: ${c.name} ${mode}
profile: ${profile}
machine:
  ram:
    - { name: ram, gpa: 0, size: 0x10000 }
    ${c.ram}
  mmio: [{ name: device, kind: register, gpa: 0xfed00000, size: 0x1000, value: 0xdeadbeef }]
  sev: { ghcbVersion: 1${CAPS[mode]} }
${c.budget !== undefined ? `host: { budget: ${c.budget} }` : ''}
policies: { ${c.policies} }
guest:
  steps:
    - mmio-read: { gpa: 0xfed00000, len: 4, scratch: ${c.scratch} }
      ${c.host ?? ''}
      expect: ${expect}
expect:
  stop: guest-done
  retried: [${c.errno}]
`;
}

function run(text: string) {
  const s = parseScenario(text, 'test.yaml');
  if (isScenarioError(s)) assert.fail(formatScenarioError(s));
  const report = runScenario(s.scenario);
  return report;
}

for (const profile of ['seed', 'current'] as const) {
  describe(`[${profile}] VMM resolvers × capabilities`, () => {
    for (const c of CASES) {
      for (const mode of ['off', 'metadata', 'restart'] as const) {
        const restart = mode === 'restart';
        it(`${c.name}, ${mode}: ${restart ? 'the guest reads the device' : 'the guest reads success with no data'}`, () => {
          const expect = restart
            ? '{ outcome: { userspace: [MMIO] }, result: ok, data: efbeadde }'
            : `{ outcome: { kvm-error: ${c.errno} }, result: ok, data: "${c.lost}" }`;
          const r = run(yaml(c, mode, profile, expect));
          assert.ok(r.ok, formatReport(r).join('\n'));
          assert.equal(r.leakedBytes, 0);
        });
      }
    }
  });
}

describe('bounded retries and clear stop reasons', () => {
  it('a guest that keeps faulting on new pages makes the VMM stop after maxRetries', () => {
    const steps = [0x10000, 0x11000, 0x12000, 0x13000]
      .map((g) => `    - mmio-read: { gpa: 0xfed00000, len: 4, scratch: 0x${g.toString(16)} }`)
      .join('\n');
    const r = run(`name: hostile
profile: current
machine:
  ram:
    - { name: ram, gpa: 0, size: 0x10000 }
    - { name: lazy, gpa: 0x10000, size: 0x4000, backing: lazy }
  mmio: [{ name: device, kind: register, gpa: 0xfed00000, size: 0x1000, value: 0xdeadbeef }]
  sev: { ghcbVersion: 1, capabilities: [vmgexit-fault-info, vmgexit-restart] }
policies: { efault: { action: resolve, resolvers: [populate-missing], maxRetries: 2 } }
guest:
  steps:
${steps}
expect:
  stop: { kind: kvm-error, errno: EFAULT }
  retried: [EFAULT, EFAULT]
`);
    assert.ok(r.ok, formatReport(r).join('\n'));
    assert.equal(r.stop?.kind, 'kvm-error');
    if (r.stop?.kind === 'kvm-error') {
      assert.match(r.stop.unresolved ?? '', /gave up after 2 resolved re-run\(s\) \(maxRetries 2\)/);
      assert.equal(r.stop.diagnosis?.restartable, true);
      assert.equal(r.stop.diagnosis?.gpa, 0x12000);
    }
    assert.match(formatReport(r).join('\n'), /the VMM gave up after 2/);
  });

  it('a GPA no resolver can fix (scratch in an MMIO device) stops at once, naming it', () => {
    const r = run(`name: unfixable
profile: seed
machine:
  mmio: [{ name: device, kind: register, gpa: 0xfed00000, size: 0x2000, value: 0xdeadbeef }]
  sev: { ghcbVersion: 1, capabilities: [vmgexit-fault-info, vmgexit-restart] }
policies: { efault: { action: resolve, resolvers: [populate-missing, extend-file, remap, add-memslot], maxRetries: 100 } }
guest:
  steps:
    - mmio-read: { gpa: 0xfed00000, len: 4, scratch: 0xfed01000 }
expect:
  stop: { kind: kvm-error, errno: EFAULT }
  retried: []
`);
    assert.ok(r.ok, formatReport(r).join('\n'));
    if (r.stop?.kind === 'kvm-error') {
      assert.match(
        r.stop.unresolved ?? '',
        /no resolver .* could fix 0xfed01000\+0x1000 \(KVM_EXIT_MEMORY_FAULT, no-slot\)/,
      );
    } else assert.fail('expected a kvm-error stop');
  });

  it('KVM refuses vmgexit-restart without vmgexit-fault-info: the machine is not built', () => {
    const r = run(`name: bad caps
machine: { sev: { ghcbVersion: 1, capabilities: [vmgexit-restart] } }
guest: { steps: [] }
`);
    assert.equal(r.ok, false);
    assert.match(r.checks[0]!.message, /EINVAL/);
  });

  it('the schema names the resolvers and capabilities it accepts', () => {
    const s = parseScenario(
      'name: t\nmachine: { sev: { capabilities: [restart] } }\npolicies: { efault: { action: resolve, resolvers: [magic], maxRetries: 1 } }\nguest: { steps: [] }\n',
      'bad.yaml',
    );
    assert.ok(isScenarioError(s));
    const text = formatScenarioError(s);
    assert.match(
      text,
      /capabilities\[0\]: expected a sevbox capability: vmgexit-fault-info, vmgexit-restart/,
    );
    assert.match(
      text,
      /resolvers\[0\]: expected a resolver: populate-missing, extend-file, remap, add-memslot/,
    );
  });
});

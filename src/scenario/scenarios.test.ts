/**
 * Scenario files are executable tests: every file under examples/ (but examples/guests/) and
 * test/scenarios/ runs and must pass. Plus the loader's errors (file, path, what was expected) and a
 * failing expectation.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatScenarioError, isScenarioError, type ScenarioError } from './errors.js';
import { isScenarioFileName, type LoadedScenario, loadScenario, parseScenario } from './load.js';
import { formatReport, runScenario } from './run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function scenarioFiles(dir: string): string[] {
  const abs = join(ROOT, dir);
  return readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => isScenarioFileName(basename(f)))
    .map((f) => join(abs, f))
    .sort();
}

function loaded(r: LoadedScenario | ScenarioError): LoadedScenario {
  if (isScenarioError(r)) assert.fail(formatScenarioError(r));
  return r;
}

function failed(r: LoadedScenario | ScenarioError): ScenarioError {
  if (!isScenarioError(r)) assert.fail(`expected ${r.file} to be refused`);
  return r;
}

for (const dir of ['examples', 'test/scenarios']) {
  describe(`scenario files in ${dir}/`, () => {
    const files = scenarioFiles(dir);
    it('has scenario files', () => assert.ok(files.length > 0));
    for (const file of files) {
      it(relative(ROOT, file), async () => {
        const s = loaded(await loadScenario(file));
        const report = runScenario(s.scenario);
        assert.ok(report.ok, formatReport(report).join('\n'));
      });
    }
  });
}

const MINIMAL = `name: t
guest:
  steps:
    - cpuid: 0
`;

describe('load errors name the file, the path in the document and what was expected', () => {
  it('a value of the wrong type', () => {
    const e = failed(
      parseScenario(MINIMAL.replace('cpuid: 0', 'mmio-read: { gpa: 0xfed00000, len: four }'), 'bad.yaml'),
    );
    assert.equal(e.file, 'bad.yaml');
    assert.equal(e.issues.length, 1);
    const [i] = e.issues;
    assert.equal(i!.path, 'guest.steps[0].mmio-read.len');
    assert.match(i!.message, /expected a non-negative integer .*got "four"/);
    assert.equal(i!.line, 4);
    assert.match(formatScenarioError(e), /^bad\.yaml:4:\d+: guest\.steps\[0\]\.mmio-read\.len: expected/);
  });

  it('an unknown step verb', () => {
    const e = failed(
      parseScenario(MINIMAL.replace('cpuid: 0', 'mmio-reed: { gpa: 1, len: 4 }'), 'verb.yaml'),
    );
    assert.equal(e.issues[0]!.path, 'guest.steps[0].mmio-reed');
    assert.match(
      e.issues[0]!.message,
      /unknown step verb "mmio-reed"; expected exactly one of msr, cpuid, .*mmio-read/,
    );
  });

  it('a missing field', () => {
    const e = failed(
      parseScenario(MINIMAL.replace('cpuid: 0', 'io-out: { port: 0x3f8, size: 1 }'), 'missing.json.yaml'),
    );
    assert.equal(e.issues[0]!.path, 'guest.steps[0].io-out.value');
    assert.match(e.issues[0]!.message, /expected .* got nothing/);
  });

  it('JSON by extension, with the same paths', () => {
    const text = JSON.stringify({ name: 't', guest: { steps: [{ 'io-in': { port: 0x80, size: 3 } }] } });
    const e = failed(parseScenario(text, 'x.json'));
    assert.equal(e.issues[0]!.path, 'guest.steps[0].io-in.size');
    assert.match(e.issues[0]!.message, /expected an I\/O size of 1, 2 or 4 bytes, got 3/);
  });

  it('unknown keys and a missing name', () => {
    const e = failed(parseScenario('guest: { steps: [] }\nmachin: {}\n', 'keys.yaml'));
    const paths = e.issues.map((i) => `${i.path}: ${i.message}`);
    assert.ok(
      paths.some((p) => /^name: expected the scenario name/.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      paths.some((p) => /^: unknown key "machin"/.test(p)),
      paths.join('\n'),
    );
  });

  it('YAML that does not parse', () => {
    const e = failed(parseScenario('name: [unclosed\n', 'syntax.yaml'));
    assert.match(e.issues[0]!.message, /^not valid YAML/);
    assert.equal(e.issues[0]!.line !== undefined, true);
  });

  it('semantic checks: a truncate of a file the machine lacks, overlapping RAM, GHCB outside RAM', () => {
    const text = `name: t
machine:
  ram:
    - { gpa: 0, size: 0x10000 }
    - { gpa: 0x8000, size: 0x10000 }
guest:
  ghcb: 0x200000
  steps:
    - cpuid: 0
      host:
        - truncate: { file: dax, size: 0 }
`;
    const e = failed(parseScenario(text, 'sense.yaml'));
    const byPath = new Map(e.issues.map((i) => [i.path, i.message]));
    assert.match(byPath.get('machine.ram[1]') ?? '', /overlaps machine\.ram\[0\]/);
    assert.match(byPath.get('guest.ghcb') ?? '', /inside guest RAM/);
    assert.match(byPath.get('guest.steps[0].host[0].truncate.file') ?? '', /the machine has none.*"dax"/);
  });

  it('vmm entries and exit expectations: the trigger, the action and the exit field named', () => {
    const text = `name: t
machine:
  ram: [{ name: ram, gpa: 0, size: 0x100000 }]
guest:
  steps:
    - cpuid: 0
      expect:
        exits: [{ mmio: { is_write: maybe } }]
vmm:
  - at: { exit: 0, vmgexit: SVM_EXIT_CPUID }
  - at: { exit: 1 }
    do:
      - set-memory-region: { slot: 1, size: 0x1000, ram: rom }
      - immediate-exit: { vcpu: 3 }
    check:
      - mapping: { gpa: 0, state: gone }
`;
    const e = failed(parseScenario(text, 'vmm.yaml'));
    const byPath = new Map(e.issues.map((i) => [i.path, i.message]));
    assert.match(byPath.get('guest.steps[0].expect.exits[0].mmio.is_write') ?? '', /boolean/);
    assert.match(byPath.get('vmm[0].at') ?? '', /exactly one of exit.*or vmgexit/);
    assert.match(byPath.get('vmm[1].check[0].mapping.state') ?? '', /expected a page state: anonymous/);
    // Checked once the document parses: the RAM region and the vCPU must exist.
    const fixed = text
      .replace('is_write: maybe', 'is_write: true')
      .replace('exit: 0, vmgexit: SVM_EXIT_CPUID', 'exit: 0')
      .replace('state: gone', 'state: unmapped');
    const sense = new Map(failed(parseScenario(fixed, 'vmm.yaml')).issues.map((i) => [i.path, i.message]));
    assert.match(sense.get('vmm[1].do[0].set-memory-region.ram') ?? '', /RAM region \(ram\), got "rom"/);
    assert.match(sense.get('vmm[1].do[1].immediate-exit.vcpu') ?? '', /it has 1\), got 3/);
  });

  it('a vmm entry whose point never comes fails the run, naming it', () => {
    const text = `name: t
guest:
  steps:
    - io-out: { port: 0x80, size: 1, value: 1 }
vmm:
  - name: the tenth exit
    at: { exit: 9 }
    check: [{ allocator: { inUse: 0 } }]
`;
    const report = runScenario(loaded(parseScenario(text, 'never.yaml')).scenario);
    assert.equal(report.ok, false);
    const c = report.checks.find((x) => x.path === 'vmm[0].at')!;
    assert.equal(c.ok, false);
    assert.match(c.message, /the tenth exit.*never came.*guest done/);
  });

  it('a file that does not exist, or has another extension', async () => {
    assert.match(failed(await loadScenario(join(ROOT, 'nope.yaml'))).issues[0]!.message, /ENOENT/);
    assert.match(
      failed(await loadScenario('scenario.txt')).issues[0]!.message,
      /expected a \.yaml, \.yml, \.json file/,
    );
  });
});

describe('a scenario whose expectation fails', () => {
  it('is not ok, and the failing check says what differed', () => {
    const text = `name: wrong data
machine:
  mmio:
    - { kind: register, gpa: 0xfed00000, size: 0x1000, value: 0xdeadbeef }
guest:
  steps:
    - mmio-read: { gpa: 0xfed00000, len: 4 }
      expect: { data: "00000000", outcome: handled }
expect:
  serial: "nothing"
`;
    const report = runScenario(loaded(parseScenario(text, 'wrong.yaml')).scenario);
    assert.equal(report.ok, false);
    const failing = report.checks.filter((c) => !c.ok);
    const byPath = new Map(failing.map((c) => [c.path, c.message]));
    assert.deepEqual([...byPath.keys()].sort(), [
      'expect.serial',
      'guest.steps[0].expect.data',
      'guest.steps[0].expect.outcome',
    ]);
    assert.match(byPath.get('guest.steps[0].expect.data')!, /expected data 00000000, got efbeadde/);
    assert.match(
      byPath.get('guest.steps[0].expect.outcome')!,
      /expected KVM outcome handled, got exit to userspace \(KVM_EXIT_MMIO\)/,
    );
    assert.match(byPath.get('expect.serial')!, /expected serial output "nothing", got ""/);
    assert.match(formatReport(report).join('\n'), /✗ step 0 \(mmio-read\): expected data 00000000/);
  });

  it('the profile can be overridden: the ENOMEM example under prefix is reflected instead', async () => {
    const s = loaded(await loadScenario(join(ROOT, 'examples/demo/4-bounce-buffer-enomem.yaml')));
    const report = runScenario(s.scenario, { profile: 'prefix' });
    assert.equal(report.profile, 'prefix');
    assert.equal(report.ok, false);
    assert.equal(report.vmgexits[0]!.text, 'reflected (INVALID_SCRATCH_AREA)');
    assert.deepEqual(report.retried, []);
  });

  it('the report lists the errnos the VMM retried, in order', async () => {
    const s = loaded(await loadScenario(join(ROOT, 'examples/demo/6-efault-unmapped-hva.yaml')));
    assert.deepEqual(runScenario(s.scenario).retried, ['EFAULT']);
    const enomem = loaded(await loadScenario(join(ROOT, 'examples/demo/4-bounce-buffer-enomem.yaml')));
    assert.deepEqual(runScenario(enomem.scenario).retried, ['ENOMEM']);
  });
});

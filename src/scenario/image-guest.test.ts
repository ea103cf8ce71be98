/**
 * Scenarios whose guest is machine code (`guest.image`): the image is found next to the scenario
 * file, loaded as ELF or flat binary, started at the entry the scenario gives, and run on the x86
 * interpreter; bad images, entries and expectations are clear failures, never throws.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatScenarioError, isScenarioError } from './errors.js';
import { parseScenario } from './load.js';
import { formatReport, runScenario, type ScenarioReport } from './run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A scenario "file" in test/scenarios/, so image paths resolve from there. */
const AT = join(ROOT, 'test/scenarios/inline.yaml');

function run(text: string): ScenarioReport {
  const r = parseScenario(text, AT);
  if (isScenarioError(r)) assert.fail(formatScenarioError(r));
  return runScenario(r.scenario);
}

function refused(text: string): string {
  const r = parseScenario(text, AT);
  if (!isScenarioError(r)) assert.fail('expected the scenario to be refused');
  return formatScenarioError(r);
}

const failing = (r: ScenarioReport) => r.checks.filter((c) => !c.ok).map((c) => `${c.path}: ${c.message}`);

const REAL_MODE = (extra: string) => `name: real mode
machine:
  sev: false
  ram: [{ gpa: 0, size: 0xa0000 }]
guest:
  image: { file: ../../examples/guests/build/real-mode.bin, gpa: 0x1000 }
  entry: { mode: real-flat, rip: 0x1000 }
${extra}`;

const SEV_ES = (image: string, extra: string) => `name: sev-es rom
profile: current
machine:
  sev: { ghcbVersion: 2 }
  ram:
    - { gpa: 0, size: 0x10000 }
    - { gpa: 0xfffff000, size: 0x1000 }
guest:
  image: { file: ${image}, gpa: 0xfffff000 }
${extra}`;

describe('a machine-code guest in a scenario', () => {
  it('a flat binary at its GPA runs like the ELF: serial output, memory, HLT ends the run', () => {
    const r = run(
      REAL_MODE(`expect:
  serial: "Hello, real mode\\n"
  memory: [{ gpa: 0x1038, hex: "60223344" }]`),
    );
    assert.deepEqual(failing(r), []);
    assert.deepEqual(r.stop, { kind: 'guest-done' });
    assert.deepEqual(r.steps, []);
  });

  it('with an in-kernel APIC (apResetHold: sipi) its HLT waits in the kernel, and still ends the run', () => {
    const r = run(
      REAL_MODE(`expect:
  serial: "Hello, real mode\\n"`).replace('machine:', 'apResetHold: sipi\nmachine:'),
    );
    assert.deepEqual(failing(r), []);
    assert.deepEqual(r.stop, { kind: 'guest-done' });
  });

  it('an SEV-ES ROM from the reset vector: each #VC handler VMGEXIT is a line of the report', () => {
    const r = run(SEV_ES('../x86/fixtures/sev-es-rom.bin', 'expect: { vmgexits: 1 }'));
    assert.deepEqual(failing(r), []);
    assert.deepEqual(
      r.vmgexits.map((l) => [l.protocol, l.event, l.text]),
      [['msr', 'GHCB_MSR_CPUID_REQ', 'handled']],
    );
    assert.match(formatReport(r).join('\n'), /#0 GHCB_MSR_CPUID_REQ: handled/);
  });

  it('expect.outcomes: a wrong event, a wrong outcome and a missing VMGEXIT each fail where they are', () => {
    const r = run(
      SEV_ES(
        '../x86/fixtures/sev-es-rom.bin',
        `expect:
  outcomes:
    - { event: SVM_EXIT_MSR }
    - { event: GHCB_MSR_CPUID_REQ }`,
      ),
    );
    assert.deepEqual(failing(r), [
      'expect.outcomes[0]: expected VMGEXIT 0 to be SVM_EXIT_MSR, got GHCB_MSR_CPUID_REQ: handled',
      'expect.outcomes[1]: expected VMGEXIT 1, but KVM saw only 1',
    ]);
    const wrongOutcome = run(
      SEV_ES(
        '../x86/fixtures/sev-es-rom.bin',
        'expect: { outcomes: [{ outcome: { reflected: INVALID_USAGE } }] }',
      ),
    );
    assert.equal(failing(wrongOutcome).length, 1);
    assert.match(
      failing(wrongOutcome)[0]!,
      /^expect\.outcomes\[0\]: expected VMGEXIT 0 \(GHCB_MSR_CPUID_REQ\) to be .*got handled$/,
    );
  });

  it('more VMGEXITs than expect.outcomes lists is a failure', () => {
    const r = run(SEV_ES('../x86/fixtures/sev-es-rom.bin', 'expect: { outcomes: [] }'));
    assert.deepEqual(failing(r), [
      'expect.outcomes: expected 0 VMGEXIT(s), got 1 (the next: GHCB_MSR_CPUID_REQ)',
    ]);
  });

  it('an image file that is not there, or a flat binary without a GPA, is a machine that cannot be built', () => {
    const missing = run(REAL_MODE('').replace('real-mode.bin', 'no-such.bin'));
    assert.equal(missing.ok, false);
    assert.match(failing(missing)[0]!, /no-such\.bin: cannot read the guest image \(ENOENT\)/);
    const noGpa = run(REAL_MODE('').replace(', gpa: 0x1000 }', ' }'));
    assert.match(failing(noGpa)[0]!, /is not an ELF file: a flat binary needs guest\.image\.gpa/);
  });

  it('an image outside guest RAM fails to load with the segment and errno', () => {
    const r = run(REAL_MODE('').replace('gpa: 0x1000 }', 'gpa: 0xa0000 }'));
    assert.match(failing(r)[0]!, /EFAULT: segment 0 \(GPA 0xa0000\): gpa 0xa0000 is not RAM/);
  });

  it('an ELF without an entry point needs entry.rip; an ELF gives its own', () => {
    const elf = run(
      REAL_MODE('expect: { serial: "Hello, real mode\\n" }')
        .replace('real-mode.bin, gpa: 0x1000', 'real-mode.elf')
        .replace(', rip: 0x1000', ''),
    );
    assert.deepEqual(failing(elf), []);
    const flat = run(REAL_MODE('').replace(', rip: 0x1000', ''));
    assert.match(failing(flat)[0]!, /names no entry point: give entry\.rip/);
  });

  it('an SEV-ES guest can only start at RESET, and runs on one vCPU', () => {
    const msg = refused(
      SEV_ES('../x86/fixtures/sev-es-rom.bin', '').replace(
        'gpa: 0xfffff000 }\n',
        'gpa: 0xfffff000 }\n  entry: { mode: long, rip: 0x1000 }\n',
      ),
    );
    assert.match(msg, /guest\.entry.*an SEV-ES guest starts at the reset vector/);
    const two = refused(
      SEV_ES('../x86/fixtures/sev-es-rom.bin', '').replace('machine:\n', 'machine:\n  vcpus: 2\n'),
    );
    assert.match(two, /machine\.vcpus.*a machine-code guest runs on one vCPU, got 2/);
  });

  it('a bad entry is refused at load with what was expected', () => {
    const msg = refused(REAL_MODE('').replace('{ mode: real-flat, rip: 0x1000 }', 'protected'));
    assert.match(msg, /guest\.entry.*expected an entry: reset, \{ mode: real-flat/);
  });

  describe('guest.halts: host actions at each HLT, then the guest runs on', () => {
    // 16-bit: hlt; mov dx, 0x3f8; mov al, [0x5000]; out dx, al; hlt
    const code = Uint8Array.from([0xf4, 0xba, 0xf8, 0x03, 0xa0, 0x00, 0x50, 0xee, 0xf4]);
    const file = join(mkdtempSync(join(tmpdir(), 'sevbox-halts-')), 'halts.bin');
    writeFileSync(file, code);
    const scenario = (ram: string, halts: string) => `name: halts
machine:
  sev: false
  ram:
    - { gpa: 0, size: 0x5000 }
    - ${ram}
guest:
  image: { file: ${file}, gpa: 0x1000 }
  entry: { mode: real-flat, rip: 0x1000 }
${halts}`;

    it('the first HLT populates a lazy page; the guest reads it and the second HLT ends the run', () => {
      const r = run(
        scenario(
          '{ gpa: 0x5000, size: 0x1000, backing: lazy }',
          `  halts: [{ host: [{ populate: { gpa: 0x5000, hex: "41" } }] }]
expect: { serial: "A", stop: guest-done }`,
        ),
      );
      assert.deepEqual(failing(r), []);
    });

    it('the first HLT unmaps the page the guest then reads: KVM_RUN fails with EFAULT', () => {
      const r = run(
        scenario(
          '{ gpa: 0x5000, size: 0x1000 }',
          `  halts: [{ host: [{ unmap: { gpa: 0x5000, size: 0x1000 } }] }]
expect: { stop: { kind: kvm-error, errno: EFAULT } }`,
        ),
      );
      assert.deepEqual(failing(r), []);
    });

    it('without halts the first HLT ends the run', () => {
      const r = run(scenario('{ gpa: 0x5000, size: 0x1000 }', 'expect: { serial: "" }'));
      assert.deepEqual(failing(r), []);
    });

    it('a host action outside RAM is refused at load, with its path', () => {
      const msg = refused(
        scenario(
          '{ gpa: 0x5000, size: 0x1000 }',
          '  halts: [{ host: [{ unmap: { gpa: 0x9000, size: 0x1000 } }] }]',
        ),
      );
      assert.match(msg, /guest\.halts\[0\]\.host\[0\]\.unmap.*expected a range inside guest RAM/);
    });
  });

  it('entry.regs sets general-purpose registers and RFLAGS before the first KVM_RUN', () => {
    // 16-bit: mov [0x3000], ebx (66 89 1e 00 30); mov [0x3004], esi (66 89 36 04 30); pushf; pop ax;
    // mov [0x3008], ax (a3 08 30); hlt
    const code = Uint8Array.from([
      0x66, 0x89, 0x1e, 0x00, 0x30, 0x66, 0x89, 0x36, 0x04, 0x30, 0x9c, 0x58, 0xa3, 0x08, 0x30, 0xf4,
    ]);
    const file = join(mkdtempSync(join(tmpdir(), 'sevbox-regs-')), 'regs.bin');
    writeFileSync(file, code);
    const r = run(`name: regs
machine:
  sev: false
  ram: [{ gpa: 0, size: 0x10000 }]
guest:
  image: { file: ${file}, gpa: 0x1000 }
  entry: { mode: real-flat, rip: 0x1000, rsp: 0x8000, regs: { rbx: 0x11223344, rsi: 0xcafef00d, rflags: 0x203 } }
expect:
  memory: [{ gpa: 0x3000, hex: "44332211" }, { gpa: 0x3004, hex: "0df0feca" }, { gpa: 0x3008, hex: "0302" }]`);
    assert.deepEqual(failing(r), []);
  });

  it('RSP given twice, or a register KVM_SET_REGS does not have, is refused at load', () => {
    const twice = refused(REAL_MODE('').replace('rip: 0x1000 }', 'rip: 0x1000, rsp: 1, regs: { rsp: 2 } }'));
    assert.match(twice, /guest\.entry\.regs\.rsp.*RSP is given twice/);
    const bad = refused(REAL_MODE('').replace('rip: 0x1000 }', 'rip: 0x1000, regs: { rip: 2 } }'));
    assert.match(bad, /guest\.entry\.regs: unknown key "rip"/);
  });
});

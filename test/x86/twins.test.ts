/**
 * Machine-code twins of the scripted example families: every scenario family of examples/
 * (examples/<family>.yaml, examples/demo/<n>-*.yaml) has a twin at the same path under
 * examples/machine-code/, whose guest is C on examples/guests/lib (twin-<family>.c) run by the x86
 * interpreter. Under every kernel profile, not only the one the files name, both must give the same
 * outcome table: each VMGEXIT's event and KVM's outcome, in order; the stop, with its details; the
 * serial output; the errnos of the KVM_RUN failures the VMM retried.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { formatScenarioError, isScenarioError } from '../../src/scenario/errors.js';
import { loadScenario, SCENARIO_EXTENSIONS } from '../../src/scenario/load.js';
import { runScenario, type ScenarioReport } from '../../src/scenario/run.js';
import { PROFILE_NAMES, type Scenario } from '../../src/scenario/schema.js';

const EXAMPLES = join(import.meta.dirname, '../../examples');
const TWINS = join(EXAMPLES, 'machine-code');
const GUESTS = join(EXAMPLES, 'guests');
/** Folders of examples/ that are not scripted families: the guests and the twins themselves. */
const NOT_FAMILIES = ['guests', 'machine-code'];

/** Scenario files under `dir`, relative to it, sorted. */
function scenarioFiles(dir: string, skip: readonly string[] = []): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => SCENARIO_EXTENSIONS.some((e) => f.endsWith(e)))
    .filter((f) => !skip.some((d) => f.startsWith(`${d}/`)))
    .sort();
}

/** The scripted families: every scenario of examples/ outside guests/ and machine-code/. */
const families = scenarioFiles(EXAMPLES, NOT_FAMILIES);
/** The machine-code scenarios that have a scripted family of the same path. */
const twins = scenarioFiles(TWINS).filter((f) => families.includes(f));

async function load(file: string): Promise<Scenario> {
  const r = await loadScenario(file);
  if (isScenarioError(r)) assert.fail(formatScenarioError(r));
  return r.scenario;
}

/**
 * The guest library's boot prologue (examples/guests/lib/entry.s, get_sev_encryption_bit): before
 * paging, an SEV-ES twin runs CPUID 0x80000000 and 0x8000001f to find the C-bit, and its boot #VC
 * handler asks for each register through the GHCB MSR protocol: 2 × 4 MSR-protocol VMGEXITs,
 * before the twin's own code runs and before anything its scripted family does. A twin in a VM
 * without SEV-ES makes none (its CPUIDs go to KVM: no #VC).
 */
const BOOT_PROLOGUE = Array.from({ length: 8 }, () => 'GHCB_MSR_CPUID_REQ: handled');

/** The twin's VMGEXITs without the library's boot prologue, which must be there under SEV-ES. */
function withoutBootPrologue(vmgexits: readonly string[], sevEs: boolean): string[] {
  if (!sevEs) return [...vmgexits];
  assert.deepEqual(vmgexits.slice(0, BOOT_PROLOGUE.length), BOOT_PROLOGUE, "the library's boot prologue");
  return vmgexits.slice(BOOT_PROLOGUE.length);
}

/** What both must agree on (a twin's VMGEXITs without the library's boot prologue). */
function table(r: ScenarioReport, twin?: Scenario) {
  const vmgexits = r.vmgexits.map((l) => `${l.event}: ${l.text}`);
  return {
    vmgexits: twin ? withoutBootPrologue(vmgexits, twin.machine.sev !== false) : vmgexits,
    stop: r.stop,
    serial: r.serial,
    retried: r.retried,
  };
}

/**
 * Where a profile legitimately makes a twin's table differ from its scripted family's, and why:
 * `${family}@${profile}` → the reason and the fields that differ (the rest must still be equal,
 * and these must still differ). None so far: every twin gives its family's table under all three
 * profiles, the profiles' differences (ENOMEM/EFAULT reflected by prefix, TERM_REQ's EINVAL before
 * current, HV_FT_REQ only in current) included.
 */
const DIFFERENCES: Readonly<Record<string, { readonly why: string; readonly fields: readonly string[] }>> =
  {};

describe('every scripted example family has a machine-code twin', () => {
  it('examples/machine-code/ has a twin of each family in examples/', () => {
    assert.ok(families.length >= 19, families.join(', '));
    const missing = families.filter((f) => !existsSync(join(TWINS, f)));
    assert.deepEqual(missing, [], `families without a twin in examples/machine-code/: ${missing.join(', ')}`);
  });

  it('each twin guest (examples/guests/twin-*.c) is the image of a twin scenario', () => {
    const images = twins.map((f) => readFileSync(join(TWINS, f), 'utf8'));
    const unused = readdirSync(GUESTS)
      .filter((f) => f.startsWith('twin-') && f.endsWith('.c'))
      .map((f) => f.slice(0, -2))
      .filter((n) => !images.some((text) => text.includes(`guests/build/${n}.elf`)));
    assert.deepEqual(unused, []);
  });
});

describe("a twin gives its scripted family's outcome table under every profile", () => {
  for (const f of twins) {
    for (const profile of PROFILE_NAMES) {
      const known = DIFFERENCES[`${f}@${profile}`];
      it(`${relative(EXAMPLES, join(TWINS, f))} [${profile}]${known ? ` (differs: ${known.why})` : ''}`, async () => {
        const scripted = table(runScenario(await load(join(EXAMPLES, f)), { profile }));
        const twinScenario = await load(join(TWINS, f));
        const twin = table(runScenario(twinScenario, { profile }), twinScenario);
        if (!known) {
          assert.deepEqual(twin, scripted);
          return;
        }
        for (const k of Object.keys(scripted) as (keyof typeof scripted)[]) {
          if (known.fields.includes(k)) assert.notDeepEqual(twin[k], scripted[k], `${k} no longer differs`);
          else assert.deepEqual(twin[k], scripted[k], k);
        }
      });
    }
  }
});

/** Terminal colours, only when asked (stdout is a TTY and NO_COLOR is unset). */
export interface Paint {
  green(s: string): string;
  red(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

/** ANSI colours when `on`, plain text otherwise. */
export function paint(on: boolean): Paint {
  const wrap =
    (code: number) =>
    (s: string): string =>
      on ? `\x1b[${code}m${s}\x1b[0m` : s;
  return { green: wrap(32), red: wrap(31), bold: wrap(1), dim: wrap(2) };
}

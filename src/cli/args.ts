/** A command-line option of a CLI command. */
export interface OptionDef {
  name: string;
  help: string;
  /** Shown as the default in --help; absent for flags and required values. */
  default?: string;
  /** A flag takes no value. */
  flag?: boolean;
  /** May be given more than once. */
  repeat?: boolean;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface Parsed {
  values: Map<string, string[]>;
  positionals: string[];
  help: boolean;
}

/** Parses `--name value`, `--name=value` and flags; throws UsageError on anything unknown. */
export function parseArgs(argv: string[], defs: OptionDef[]): Parsed {
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const def = defs.find((d) => d.name === name);
    if (!def) throw new UsageError(`unknown option --${name}`);
    let value: string;
    if (def.flag) {
      value = inline ?? "true";
    } else if (inline !== undefined) {
      value = inline;
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    const list = values.get(name) ?? [];
    if (list.length > 0 && !def.repeat) throw new UsageError(`--${name} may be given only once`);
    values.set(name, [...list, value]);
  }
  return { values, positionals, help };
}

export function value(p: Parsed, defs: OptionDef[], name: string): string | undefined {
  return p.values.get(name)?.[0] ?? defs.find((d) => d.name === name)?.default;
}

/**
 * Two columns, the second starting where the longest first column ends, up to `maxLeft`
 * characters: a longer first column puts its text on the next line, so one long flag
 * does not push every description off the screen, nor run into its own.
 */
export function columns(rows: [left: string, right: string][], maxLeft = 34): string[] {
  const width = Math.min(Math.max(...rows.map(([l]) => l.length)), maxLeft) + 2;
  return rows.flatMap(([l, r]) => (l.length + 2 > width ? [l, `${"".padEnd(width)}${r}`] : [`${l.padEnd(width)}${r}`]));
}

export function usage(command: string, synopsis: string, defs: OptionDef[]): string {
  const rows: [string, string][] = defs.map((d) => {
    const def = d.default !== undefined && d.default !== "" ? ` (default: ${d.default})` : "";
    return [`  --${d.name}${d.flag ? "" : " <value>"}`, `${d.help}${def}${d.repeat ? " (repeatable)" : ""}`];
  });
  rows.push(["  --help", "show this help"]);
  return [`usage: engage-gateway ${command} ${synopsis}`.trimEnd(), "", "options:", ...columns(rows)].join("\n");
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `2m`, `1h` for a CLI option; a bare number is refused, as in the gateway's own options. */
export function durationOption(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v.trim());
  if (!m) throw new UsageError(`--${name} must be a duration with a unit (ms, s, m or h), such as 30s or 2m, got ${JSON.stringify(v)}`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]]);
}

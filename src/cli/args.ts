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

export function usage(command: string, synopsis: string, defs: OptionDef[]): string {
  const lines = [`usage: engage-gateway ${command} ${synopsis}`.trimEnd(), "", "options:"];
  const width = Math.max(...defs.map((d) => d.name.length + (d.flag ? 0 : 8))) + 6;
  for (const d of defs) {
    const left = `  --${d.name}${d.flag ? "" : " <value>"}`;
    const def = d.default !== undefined && d.default !== "" ? ` (default: ${d.default})` : "";
    lines.push(`${left.padEnd(width)}${d.help}${def}${d.repeat ? " (repeatable)" : ""}`);
  }
  lines.push(`  ${"--help".padEnd(width - 2)}show this help`);
  return lines.join("\n");
}

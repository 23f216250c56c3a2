/** A configuration the gateway cannot start with; the message names the option and says what to do. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

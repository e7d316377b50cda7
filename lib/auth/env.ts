/** Settings read from the environment: a plain record, so tests pass only what they set. */
export type Env = Record<string, string | undefined>;

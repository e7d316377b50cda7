/** The name of the key the playground makes for itself; the keys page recognises it by this name. */
export const PLAYGROUND_KEY_NAME = 'Playground';

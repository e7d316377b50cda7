// Runs once when the Next server starts: start the hold sweeper without waiting for a first request.
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { getGateway } = await import('./lib/server/instance');
    getGateway();
  }
}

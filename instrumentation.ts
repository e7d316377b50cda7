// Runs once when the Next server starts: start the hold sweeper and the deposit worker without waiting for a first request.
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { getGateway } = await import('./lib/server/instance');
    getGateway();
    // Deposits: the verification worker and wallet-budget snapshots (lib/payments/runtime.ts).
    const { startPaymentsBackground } = await import('./lib/payments/runtime');
    startPaymentsBackground();
  }
}

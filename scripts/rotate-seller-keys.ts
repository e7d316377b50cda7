// Re-seals every seller pool key and every low-balance webhook's signing secret under
// SELLER_KEY_SECRET (the new master key), reading the old ones from SELLER_KEY_SECRET_PREVIOUS. Run once per database after deploying the new key:
//   npm run sellers:rotate-keys
import { alertVault } from '../lib/credits/alert-check';
import { reencryptAlertSecrets } from '../lib/credits/alert-secrets';
import { createDb } from '../lib/db/client';
import { resolveDatabaseConfig } from '../lib/db/config';
import { reencryptPools } from '../lib/sellers/rotate';
import { vaultFromEnv } from '../lib/sellers/vault';

async function main() {
  // Never the development fallback here: a key generated on this machine would re-seal every pool
  // under a secret no server has.
  if (!process.env.SELLER_KEY_SECRET?.trim()) throw new Error('SELLER_KEY_SECRET must be set to the new master key (the old ones in SELLER_KEY_SECRET_PREVIOUS)');
  const vault = vaultFromEnv();
  console.log(`re-sealing under master key ${vault.currentKeyId}`);
  const db = createDb(resolveDatabaseConfig());
  try {
    const { reencrypted, unreadable } = await reencryptPools({ db, vault });
    console.log(`re-sealed ${reencrypted} pool keys under master key ${vault.currentKeyId}`);
    if (unreadable.length) {
      // Sealed under a master key that is not configured (add it to SELLER_KEY_SECRET_PREVIOUS), or damaged.
      console.error(`${unreadable.length} pool keys could not be opened: ${unreadable.join(', ')}`);
      process.exitCode = 1;
    }
    const alerts = await reencryptAlertSecrets({ db, vault: alertVault() });
    console.log(`re-sealed ${alerts.reencrypted} webhook signing secrets`);
    if (alerts.unreadable.length) {
      console.error(`${alerts.unreadable.length} webhook signing secrets could not be opened (users: ${alerts.unreadable.join(', ')}); those users set their webhook again`);
      process.exitCode = 1;
    }
  } finally {
    await db.$disconnect();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

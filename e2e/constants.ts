export const E2E_ADMIN_TOKEN = 'e2e-admin-token-0123456789';

/** Signs in as an administrator on the suite's server (its ADMIN_EMAILS). */
export const E2E_ADMIN_EMAIL = 'operator@e2e.example';

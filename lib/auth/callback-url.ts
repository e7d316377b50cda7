/** Only same-site paths: a callbackUrl is user input, and an open redirect helps phishing. */
export function safeCallbackUrl(value: string | string[] | undefined, fallback = '/dashboard'): string {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return fallback;
  return raw;
}

const SIGN_IN_ERRORS: Record<string, string> = {
  AccessDenied: 'This account cannot sign in. If you think this is a mistake, contact the operator.',
  Verification: 'That sign-in link has expired or was already used. Ask for a new one.',
  CredentialsSignin: 'The wallet signature could not be verified. Try again.',
  OAuthAccountNotLinked: 'This email already belongs to an account that signs in another way. Sign in with that method first.',
  EmailSignin: 'We could not send the sign-in email. Try again in a moment.',
};

export function signInErrorMessage(code: string | string[] | undefined): string | null {
  const value = Array.isArray(code) ? code[0] : code;
  if (!value) return null;
  return SIGN_IN_ERRORS[value] ?? 'Sign-in failed. Try again.';
}

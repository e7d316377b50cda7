import { cookies, headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { getSessionUser } from './session';
import type { SessionUser } from './users';

/** The signed-in user in a server component (same checks as getSessionUser). */
export async function currentUser(): Promise<SessionUser | null> {
  const [headerList, cookieStore] = await Promise.all([headers(), cookies()]);
  const cookie = cookieStore
    .getAll()
    .map((c) => `${c.name}=${encodeURIComponent(c.value)}`)
    .join('; ');
  const host = headerList.get('host') ?? 'localhost';
  return getSessionUser(new Request(`http://${host}/`, { headers: { cookie } }));
}

/** For pages behind sign-in: the user, or a redirect to /signin that comes back here. */
export async function requireUser(path: string): Promise<SessionUser> {
  const user = await currentUser();
  if (!user) redirect(`/signin?callbackUrl=${encodeURIComponent(path)}`);
  return user;
}

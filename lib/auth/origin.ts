import { forbidden } from '../http/errors';

/** Cookie-authenticated writes must come from our own pages (SameSite=Lax covers most, this the rest). */
export function assertSameOrigin(request: Request) {
  const origin = request.headers.get('origin');
  if (!origin) return;
  const host = request.headers.get('x-forwarded-host') ?? request.headers.get('host');
  let originHost: string | null = null;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = null;
  }
  if (originHost !== host) throw forbidden('cross_origin', 'Cross-origin requests are not allowed here.');
}

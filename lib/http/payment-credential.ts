import type { ApiRequest } from './api-request';

/** Whether the request pays with an `Authorization: Payment …` credential (the MPP scheme) rather than presenting a key. */
export function isPaymentCredential(request: ApiRequest): boolean {
  return /^\s*Payment\s/i.test(request.headers.get('authorization') ?? '');
}

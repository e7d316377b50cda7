import { invalidRequest } from '../http/errors';

/**
 * Documented parameters a dialect cannot honour, each with its reason, are refused by name before
 * validation, so the caller learns it is a choice and not a typo (an undocumented field is refused
 * by the strict schema instead). A field left at its documented default asks for nothing and
 * passes: `isDefault` says which values those are.
 */
export function refuseDocumentedFields(raw: unknown, reasons: Readonly<Record<string, string>>, isDefault: (field: string, value: unknown) => boolean = () => false): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return;
  for (const [field, value] of Object.entries(raw)) {
    const reason = reasons[field];
    if (reason === undefined || value === undefined || isDefault(field, value)) continue;
    throw invalidRequest(`'${field}' is not supported by Tollgate: ${reason}.`, field, 'unsupported_parameter');
  }
}

/** One usage record as the export needs it (the account API's usage view). */
export type CsvUsageRow = {
  created_at: string;
  request_id: string;
  key_id: string | null;
  model: string;
  provider: string | null;
  status: string;
  stream: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  latency_ms: number;
  error_code: string | null;
};

export const USAGE_CSV_HEADER = 'created_at,request_id,key_id,key_name,model,provider,status,stream,prompt_tokens,completion_tokens,cached_tokens,cost_usd,latency_ms,error_code';

/**
 * The usage export: each key by its id (stable and unique, what scripts join on) and then by the
 * name its owner gave it (what a person reads in a spreadsheet; names can repeat). A keyless x402
 * call has an empty key_id and "pay per request" as its name, as on the dashboard.
 */
export function usageCsv(rows: CsvUsageRow[], keyNames: ReadonlyMap<string, string>): string {
  const lines = rows.map((v) => {
    const key = v.key_id === null ? 'pay per request' : (keyNames.get(v.key_id) ?? 'deleted key');
    return [v.created_at, v.request_id, v.key_id ?? '', key, v.model, v.provider ?? '', v.status, v.stream, v.prompt_tokens, v.completion_tokens, v.cached_tokens, v.cost_usd, v.latency_ms, v.error_code ?? '']
      .map(csvCell)
      .join(',');
  });
  return [USAGE_CSV_HEADER, ...lines].join('\r\n') + '\r\n';
}

/** RFC 4180 quoting, and a leading apostrophe against formula injection in spreadsheets (key names are user text). */
export function csvCell(value: string | number | boolean): string {
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text) && typeof value === 'string') text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

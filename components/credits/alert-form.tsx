'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';
import { Button, Card, CardBody, CardHeader, ErrorState, Field, Input, Spinner, useFocusFirstInvalid } from '@/components/ui';
import { ApiError, apiFetch } from '@/components/keys/api';
import { creditAlertInputSchema, type CreditAlertInput, type CreditAlertTestResult, type CreditAlertView } from '@/lib/credits/alerts-schema';

type FieldName = 'threshold' | 'email' | 'webhook';
type Errors = Partial<Record<FieldName | 'form', string>>;

const FIELD_OF_PARAM: Record<string, FieldName> = { threshold_usd: 'threshold', email: 'email', webhook_url: 'webhook', rotate_secret: 'webhook' };
const LABEL_OF_FIELD: Record<FieldName, string> = { threshold: 'The threshold', email: 'Email', webhook: 'The webhook URL' };
const QUERY_KEY = ['credit-alert'];

type Body = { threshold_usd: string; email: boolean; webhook_url: string | null; rotate_secret?: boolean };

/** The form's own check, with the server's schema: the same rules in the same words. */
function validate(body: Body): Errors {
  const parsed = creditAlertInputSchema.safeParse(body);
  if (parsed.success) return {};
  const errors: Errors = {};
  for (const issue of parsed.error.issues) {
    const field = FIELD_OF_PARAM[String(issue.path[0])];
    if (!field || errors[field]) continue;
    errors[field] = field === 'email' ? 'Choose email, a webhook, or both.' : `${LABEL_OF_FIELD[field]} ${issue.message}.`;
  }
  return errors;
}

/** A server refusal on the field it names; anything else above the buttons. */
function serverErrors(error: unknown): Errors {
  if (!(error instanceof ApiError)) return { form: 'Could not reach Tollgate. Check your connection and try again.' };
  const field = error.param ? FIELD_OF_PARAM[error.param] : undefined;
  // zod's refusals arrive as "Invalid 'threshold_usd': must be …": say it in the form's words.
  const message = error.message.replace(/^Invalid '([a-z_]+)': /, (_all, param: string) => `${LABEL_OF_FIELD[FIELD_OF_PARAM[param] ?? 'threshold']} `);
  return field ? { [field]: message } : { form: message };
}

function initialValues(alert: CreditAlertView | undefined) {
  return {
    threshold: alert?.threshold_usd ? String(Number(alert.threshold_usd)) : '5',
    email: alert?.configured ? alert.email : Boolean(alert?.email_address),
    webhook: alert?.webhook_url ?? '',
  };
}

/** A failed channel is news the owner must act on: it reads as an error, not in the success colour. */
const testFailed = (result: CreditAlertTestResult) => result.email === 'failed' || result.webhook.status === 'failed';

function testSummary(result: CreditAlertTestResult): string {
  const parts: string[] = [];
  if (result.email === 'sent') parts.push('Test email sent.');
  if (result.email === 'failed') parts.push('The test email could not be sent.');
  if (result.webhook.status === 'delivered') parts.push(`Webhook answered ${result.webhook.http_status}.`);
  if (result.webhook.status === 'failed') parts.push(`Webhook failed: ${result.webhook.error}`);
  return parts.join(' ') || 'Nothing to send: no channel is on.';
}

/** The signing secret, shown once, with its copy button. */
function SecretOnce({ secret, onDone }: { secret: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="space-y-2 rounded-lg bg-amber-50 p-3 ring-1 ring-amber-200" data-testid="alert-secret-box">
      <p className="text-sm font-medium text-amber-900">Signing secret: copy it now, it will not be shown again.</p>
      <div className="flex flex-col gap-2 sm:flex-row sm:items-center">
        <code tabIndex={0} className="min-w-0 flex-1 overflow-x-auto rounded-lg bg-slate-900 px-3 py-2 font-mono text-xs whitespace-nowrap text-slate-100" data-testid="alert-secret">
          {secret}
        </code>
        <div className="flex gap-2">
          <Button variant="secondary" size="sm" onClick={() => void navigator.clipboard.writeText(secret).then(() => setCopied(true))} data-testid="alert-secret-copy">
            {copied ? 'Copied' : 'Copy'}
            <span className="sr-only"> signing secret</span>
          </Button>
          <Button variant="ghost" size="sm" onClick={onDone}>
            Done
          </Button>
        </div>
      </div>
      <span className="sr-only" aria-live="polite">
        {copied ? 'Signing secret copied to the clipboard' : ''}
      </span>
      <p className="text-xs text-amber-900">Your receiver checks each delivery&apos;s Tollgate-Signature header with it (see the README).</p>
    </div>
  );
}

function AlertFormBody({ alert }: { alert: CreditAlertView }) {
  const queryClient = useQueryClient();
  const [values, setValues] = useState(() => initialValues(alert));
  const [errors, setErrors] = useState<Errors>({});
  const [refused, setRefused] = useState(0);
  const [status, setStatusText] = useState<string | null>(null);
  const [statusIsError, setStatusIsError] = useState(false);
  const setStatus = (text: string | null, isError = false) => {
    setStatusText(text);
    setStatusIsError(isError);
  };
  const [secret, setSecret] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  useFocusFirstInvalid(formRef, refused);

  const refuse = (next: Errors) => {
    setErrors(next);
    setRefused((n) => n + 1);
  };

  const save = useMutation({
    mutationFn: (body: CreditAlertInput | Body) => apiFetch<CreditAlertView>('/api/credits/alerts', { method: 'PUT', body }),
    onSuccess: (saved) => {
      queryClient.setQueryData(QUERY_KEY, saved);
      setValues(initialValues(saved));
      setSecret(saved.webhook_secret ?? null);
      setStatus(saved.webhook_secret ? 'Alert saved. Copy the signing secret below.' : 'Alert saved.');
    },
    onError: (error) => refuse(serverErrors(error)),
  });

  const remove = useMutation({
    mutationFn: () => apiFetch<CreditAlertView>('/api/credits/alerts', { method: 'DELETE' }),
    onSuccess: (removed) => {
      queryClient.setQueryData(QUERY_KEY, removed);
      setValues(initialValues(removed));
      setSecret(null);
      setErrors({});
      setStatus('Alert removed.');
    },
    onError: (error) => setErrors(serverErrors(error)),
  });

  const test = useMutation({
    mutationFn: () => apiFetch<CreditAlertTestResult>('/api/credits/alerts/test', { method: 'POST' }),
    onSuccess: (result) => setStatus(testSummary(result), testFailed(result)),
    onError: (error) => setStatus(error instanceof ApiError ? error.message : 'Could not reach Tollgate.', true),
  });

  const send = (rotate: boolean) => {
    setStatus(null);
    const body: Body = { threshold_usd: values.threshold.trim(), email: values.email, webhook_url: values.webhook.trim() || null, ...(rotate ? { rotate_secret: true } : {}) };
    const found = validate(body);
    if (Object.keys(found).length > 0) {
      refuse(found);
      return;
    }
    setErrors({});
    save.mutate(body);
  };

  const set = <K extends keyof typeof values>(key: K, value: (typeof values)[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    const field: FieldName = key === 'threshold' ? 'threshold' : key === 'email' ? 'email' : 'webhook';
    if (errors[field]) setErrors((e) => ({ ...e, [field]: undefined }));
  };

  const busy = save.isPending || remove.isPending;
  const lastAlert = alert.last_alert_at ? new Date(alert.last_alert_at).toLocaleString() : null;

  return (
    <form
      ref={formRef}
      onSubmit={(event: FormEvent<HTMLFormElement>) => {
        event.preventDefault();
        send(false);
      }}
      noValidate className="space-y-4" aria-labelledby="alert-heading" data-testid="alert-form">
      <p className="text-sm text-slate-600">
        Spendable now: <span className="font-medium text-slate-900 tabular-nums">{alert.balance_display}</span> (wallet plus live pack credit).{' '}
        {alert.configured ? (alert.armed ? 'The alert is armed.' : `Alert sent${lastAlert ? ` ${lastAlert}` : ''}; it re-arms once the balance is above the threshold again.`) : 'No alert yet.'}
      </p>
      {alert.last_delivery_error ? (
        <p className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800" data-testid="alert-delivery-error">
          The last alert did not fully go out. {alert.last_delivery_error}
        </p>
      ) : null}

      <Field id="alert-threshold" label="Alert when the balance is at or below (USD)" error={errors.threshold}>
        <Input inputMode="decimal" autoComplete="off" value={values.threshold} onChange={(e) => set('threshold', e.target.value)} placeholder="5.00" className="sm:max-w-48" data-testid="alert-threshold" />
      </Field>

      <div className="space-y-1">
        <div className="flex items-start gap-2">
          <input
            id="alert-email"
            type="checkbox"
            checked={values.email}
            onChange={(e) => set('email', e.target.checked)}
            disabled={!alert.email_address && !values.email}
            aria-invalid={errors.email ? true : undefined}
            aria-describedby={errors.email ? 'alert-email-error' : 'alert-email-hint'}
            className="mt-0.5 h-4 w-4"
            data-testid="alert-email"
          />
          <label htmlFor="alert-email" className="min-w-0 text-sm text-slate-700">
            <span className="font-medium text-slate-800">Email me</span>
            <span id="alert-email-hint" className="block text-xs break-words text-slate-500">
              {alert.email_address ? `To ${alert.email_address}.` : 'Your account has no email address; add one on the Account page.'}
            </span>
          </label>
        </div>
        {errors.email ? (
          <p id="alert-email-error" className="text-xs font-medium text-red-700">
            {errors.email}
          </p>
        ) : null}
      </div>

      <Field
        id="alert-webhook"
        label="Webhook URL"
        optional
        error={errors.webhook}
        hint={
          alert.webhook_secret_hint
            ? `Signed POSTs (Tollgate-Signature, HMAC-SHA256). Current secret ends in …${alert.webhook_secret_hint}.`
            : 'We POST a signed JSON event (Tollgate-Signature, HMAC-SHA256) to this address.'
        }
      >
        <Input type="url" inputMode="url" autoComplete="off" spellCheck={false} value={values.webhook} onChange={(e) => set('webhook', e.target.value)} placeholder="https://example.com/hooks/tollgate" data-testid="alert-webhook" />
      </Field>

      {secret ? <SecretOnce secret={secret} onDone={() => setSecret(null)} /> : null}

      {errors.form ? (
        <p role="alert" className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800" data-testid="alert-form-error">
          {errors.form}
        </p>
      ) : null}

      <div className="flex flex-wrap items-center gap-2">
        <Button type="submit" loading={save.isPending} disabled={busy} data-testid="alert-save">
          {alert.configured ? 'Save alert' : 'Turn on alert'}
        </Button>
        {alert.configured ? (
          <>
            <Button variant="secondary" loading={test.isPending} disabled={busy} onClick={() => test.mutate()} data-testid="alert-test">
              {test.isPending ? 'Sending test…' : 'Send test'}
            </Button>
            {alert.webhook_url ? (
              <Button variant="secondary" disabled={busy} onClick={() => send(true)} data-testid="alert-rotate">
                New signing secret
              </Button>
            ) : null}
            <Button variant="ghost" loading={remove.isPending} disabled={busy} onClick={() => remove.mutate()} data-testid="alert-remove">
              Remove alert
            </Button>
          </>
        ) : null}
      </div>
      <p role="status" aria-live="polite" className={statusIsError ? 'min-h-5 text-sm font-medium text-red-700' : 'min-h-5 text-sm font-medium text-emerald-700'} data-testid="alert-status">
        {status}
      </p>
    </form>
  );
}

/** /credits: the low-balance alert card (GET/PUT/DELETE /api/credits/alerts). */
export function AlertCard() {
  const alert = useQuery({ queryKey: QUERY_KEY, queryFn: () => apiFetch<CreditAlertView>('/api/credits/alerts') });
  return (
    <Card data-testid="alert-card">
      <CardHeader id="alert-heading" title="Low-balance alert" description="An email, a signed webhook or both, once each time your balance falls to the threshold." />
      <CardBody>
        {alert.isPending ? (
          <div className="flex items-center gap-2 text-sm text-slate-500" role="status">
            <Spinner /> Loading your alert…
          </div>
        ) : alert.isError ? (
          <ErrorState
            title="Could not load your alert"
            message={alert.error.message}
            action={
              <Button variant="secondary" onClick={() => void alert.refetch()}>
                Try again
              </Button>
            }
          />
        ) : (
          <AlertFormBody alert={alert.data} />
        )}
      </CardBody>
    </Card>
  );
}

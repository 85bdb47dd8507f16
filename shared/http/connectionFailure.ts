/**
 * Whether an error says a dependency (storage, the queue, the Bot Connector) could not be reached:
 * that is a 503 to retry later, not a 500.
 */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ServiceUnavailable|ServiceCommunicationProblem)$/.test(code);
}

import { describe, expect, it } from 'vitest';
import { ErrorCode, McpbusError, jsonRpcCodeOf } from '@mcpbus/protocol';
import type { RequestState } from '../src/interaction.js';
import { asNewCall, declinedUrlRound, isUrlElicitationRequired, urlElicitationRound } from '../src/url-elicitation.js';

/** An upstream's -32042 as the worker holds it (see upstreamFailure), with the SDK error as its cause. */
function refusal(upstreamData: unknown, message = 'Link your account first'): McpbusError {
  return new McpbusError(ErrorCode.UpstreamError, `upstream server "acme" returned an error: ${message}`, { data: { server: 'acme', jsonRpcCode: -32042, upstreamData }, cause: new Error(message) });
}
const elicitation = (n: number) => ({ mode: 'url', url: `https://acme.example/link/${n}`, message: `Visit ${n}`, elicitationId: `id-${n}` });

const sealed: RequestState[] = [];
const round = (capabilities: Record<string, unknown> = { elicitation: { url: {} } }) => ({
  server: 'acme',
  tool: 'deploy',
  name: 'acme-deploy',
  capabilities,
  expiresAt: 1_000,
  seal: (state: RequestState) => {
    sealed.push(state);
    return `sealed-${sealed.length}`;
  },
});

describe('an upstream that needs the user at a URL (-32042), for a 2026 client', () => {
  it('becomes one URL-mode elicitation/create per elicitation, with a state naming the keys and the message', () => {
    const failure = refusal({ elicitations: [elicitation(1), elicitation(2)] });
    expect(isUrlElicitationRequired(failure)).toBe(true);
    expect(isUrlElicitationRequired(new McpbusError(ErrorCode.UpstreamError, 'other', { data: { jsonRpcCode: -32602 } }))).toBe(false);
    const { inputRequests, requestState } = urlElicitationRound(failure, round());
    expect(inputRequests).toEqual({
      url1: { method: 'elicitation/create', params: { mode: 'url', url: 'https://acme.example/link/1', message: 'Visit 1' } },
      url2: { method: 'elicitation/create', params: { mode: 'url', url: 'https://acme.example/link/2', message: 'Visit 2' } },
    });
    expect(sealed.at(-1)).toEqual({ k: 'url', s: 'acme', t: 'deploy', q: ['url1', 'url2'], m: 'Link your account first', x: 1_000 });
    expect(requestState).toBe(`sealed-${sealed.length}`);
  });

  it('is refused with -32021 for a client that did not declare URL-mode elicitation', () => {
    for (const capabilities of [{}, { elicitation: {} }, { elicitation: { form: {} } }, { elicitation: { url: false } }]) {
      const error = (() => {
        try {
          urlElicitationRound(refusal({ elicitations: [elicitation(1)] }), round(capabilities));
        } catch (err: unknown) {
          return err as McpbusError;
        }
        return undefined;
      })();
      expect(error?.code).toBe(ErrorCode.MissingClientCapability);
      expect(error && jsonRpcCodeOf(error)).toBe(-32021);
      expect(error?.data).toEqual({ server: 'acme', requiredCapabilities: { elicitation: { url: {} } } });
    }
  });

  it('fails the call (the upstream\'s fault) when the elicitations cannot be relayed', () => {
    const broken = [undefined, {}, { elicitations: [] }, { elicitations: [{ ...elicitation(1), url: 'not a url' }] }, { elicitations: [{ ...elicitation(1), mode: 'form' }] }, { elicitations: Array.from({ length: 17 }, (_, i) => elicitation(i)) }];
    for (const data of broken) {
      expect(() => urlElicitationRound(refusal(data), round())).toThrow(/named no URL-mode elicitation mcpbus can relay/);
    }
  });
});

describe('the answers to a URL round', () => {
  const state: Extract<RequestState, { k: 'url' }> = { k: 'url', s: 'acme', t: 'deploy', q: ['url1', 'url2'], m: 'Link your account first', x: 1_000 };

  it('make the call again when every URL was accepted', () => {
    expect(declinedUrlRound(state, { url1: { action: 'accept' }, url2: { action: 'accept' } }, 'acme-deploy')).toBeUndefined();
    const retry = { v: 1 as const, callId: 'c1', server: 'acme', name: 'acme-deploy', progress: false, deadlineAt: 1, inputResponses: {}, requestState: 's' };
    expect(asNewCall(retry)).toEqual({ v: 1, callId: 'c1', server: 'acme', name: 'acme-deploy', progress: false, deadlineAt: 1 });
  });

  it('end it with the upstream\'s message as a tool error when one was declined or cancelled', () => {
    expect(declinedUrlRound(state, { url1: { action: 'accept' }, url2: { action: 'cancel' } }, 'acme-deploy')).toEqual({
      result: { content: [{ type: 'text', text: 'Link your account first\n(Tool acme-deploy did not run: the user cancelled rather than open the URL upstream server "acme" asked for.)' }], isError: true },
      events: 0,
    });
  });

  it('are refused when one is missing or not an elicitation result', () => {
    expect(() => declinedUrlRound(state, { url1: { action: 'decline' } }, 'acme-deploy')).toThrow(/^inputResponses.url2 must answer the URL elicitation/);
    expect(() => declinedUrlRound(state, { url1: 'yes', url2: { action: 'accept' } }, 'acme-deploy')).toThrow(/^inputResponses.url1 must answer/);
  });
});
